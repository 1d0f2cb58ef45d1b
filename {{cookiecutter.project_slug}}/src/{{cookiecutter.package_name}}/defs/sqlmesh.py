"""The SQLMesh models as assets, their external sources, the `sqlmesh` resource and the sensor.

This is the file to edit to change how the project is wired; the integration module
(`sqlmesh_integration/`) is configured here, not forked. For example, a translator of your own:

    class MyTranslator(SQLMeshTranslator):
        def get_group_name(self, model):
            return "warehouse"

    defs = sqlmesh_definitions(project, translator=MyTranslator())

or a step body of your own with `@sqlmesh_assets(project=project)` (see docs/integration.md).
"""

from __future__ import annotations

from ..sqlmesh_integration import SQLMeshProject, sqlmesh_definitions

project = SQLMeshProject.next_to(__file__)
defs = sqlmesh_definitions(project)
