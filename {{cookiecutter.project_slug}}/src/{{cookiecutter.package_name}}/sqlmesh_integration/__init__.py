"""SQLMesh → Dagster: models as assets, audits as asset checks, `sqlmesh run` to materialize.

This module is the public face: import from here (`SQLMeshProjectComponent`, `sqlmesh_assets`,
`SQLMeshTranslator`, `SQLMeshResource`, the errors' base class...). The subpackages are layered by
where their code runs (docs/architecture.md): `definitions/` (loading the code location: never
imports SQLMesh), `connection/` (opening SQLMesh), `prepare/` (the manifest), `execution/` (inside a
step), `automation/` (sensor ticks), `pr_diff/` (CI for pull requests) and `operations/`.

Importing this package is cheap: it does not import SQLMesh. Definitions are built from a prepared
manifest (`definitions/manifest.py`), kept as the Dagster defs state of `SQLMeshProjectComponent`
(`component.py`, configured in `defs.yaml`) or read from a file by `@sqlmesh_assets` (`assets.py`);
SQLMesh is imported only to prepare a manifest (`prepare/`) or to run (`execution/runner.py`), to
ask which models are due (`automation/due.py`, from the sensor's tick) and to read what SQLMesh
filled outside Dagster (`automation/filled.py`, for the mirror). Planning and applying code stay
with the SQLMesh CLI (in CI); a run applies only the data-only restatement it was explicitly asked
for (`execution/restatement.py`).
"""

from __future__ import annotations

from .assets import project_specs, sqlmesh_assets, sqlmesh_definitions
from .automation.sensor import sqlmesh_due_sensor
from .component import SQLMeshProjectComponent
from .definitions.manifest import Manifest, SQLMeshExternalTable, SQLMeshModel, load_manifest
from .definitions.partitions import partition_interval, partition_keys, partitions_definition
from .definitions.project import (
    SQLMeshProject,
    absolute_duckdb_paths,
    environment_from_env,
    pull_request_environment,
)
from .definitions.specs import SQLMeshSpecs, build_specs
from .definitions.translator import SQLMeshAssetProps, SQLMeshTranslator, SQLMeshTranslatorSettings
from .errors import SQLMeshIntegrationError
from .execution.resource import SQLMeshResource
from .execution.restatement import SQLMeshRunConfig
from .metadata import TAG_RESTATE
from .operations.janitor import SQLMeshJanitorConfig, sqlmesh_janitor_job, sqlmesh_janitor_schedule

__all__ = [
    "TAG_RESTATE",
    "Manifest",
    "SQLMeshAssetProps",
    "SQLMeshExternalTable",
    "SQLMeshIntegrationError",
    "SQLMeshJanitorConfig",
    "SQLMeshModel",
    "SQLMeshProject",
    "SQLMeshProjectComponent",
    "SQLMeshResource",
    "SQLMeshRunConfig",
    "SQLMeshSpecs",
    "SQLMeshTranslator",
    "SQLMeshTranslatorSettings",
    "absolute_duckdb_paths",
    "build_specs",
    "environment_from_env",
    "load_manifest",
    "partition_interval",
    "partition_keys",
    "partitions_definition",
    "project_specs",
    "pull_request_environment",
    "sqlmesh_assets",
    "sqlmesh_definitions",
    "sqlmesh_due_sensor",
    "sqlmesh_janitor_job",
    "sqlmesh_janitor_schedule",
]
