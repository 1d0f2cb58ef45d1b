"""SQLMesh → Dagster: models as assets, audits as asset checks, `sqlmesh run` to materialize.

This module is the public face: import from here (`SQLMeshProjectComponent`, `sqlmesh_assets`,
`SQLMeshTranslator`, `SQLMeshResource`, the errors' base class...). The subpackages are layered by
where their code runs (docs/architecture.md): `definitions/` (loading the code location: never
imports SQLMesh), `connection/` (opening SQLMesh), `prepare/` (the manifest), `execution/` (inside a
step), `automation/` (sensor ticks), `pr_diff/` (CI for pull requests) and `operations/`.

Importing this package is cheap: it does not import SQLMesh, and a name is imported when it is
first used (`__getattr__`). Definitions are built from a prepared
manifest (`definitions/manifest.py`), kept as the Dagster defs state of `SQLMeshProjectComponent`
(`component.py`, configured in `defs.yaml`) or read from a file by `@sqlmesh_assets` (`assets.py`);
SQLMesh is imported only to prepare a manifest (`prepare/`) or to run (`execution/runner.py`), to
ask which models are due (`automation/due.py`, from the sensor's tick) and to read what SQLMesh
filled outside Dagster (`automation/filled.py`, for the mirror). Planning and applying code stay
with the SQLMesh CLI (in CI); a run applies only the data-only restatement it was explicitly asked
for (`execution/restatement.py`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from .definitions.translator import (
        SQLMeshAssetProps,
        SQLMeshTranslator,
        SQLMeshTranslatorSettings,
    )
    from .errors import SQLMeshIntegrationError
    from .execution.resource import SQLMeshResource
    from .execution.restatement import SQLMeshRunConfig
    from .metadata import TAG_RESTATE
    from .operations.janitor import (
        SQLMeshJanitorConfig,
        sqlmesh_janitor_job,
        sqlmesh_janitor_schedule,
    )

# Each public name and the module that defines it, imported on first use (PEP 562): a caller that
# needs one name pays for its module only. The sample's `config.py` asks for `absolute_duckdb_paths`
# on every `sqlmesh` command, which then never imports Dagster. Loading a code location reads every
# name (Dagster's component registry does), so it imports them all, as an eager import would.
_EXPORTS: dict[str, str] = {
    "project_specs": ".assets",
    "sqlmesh_assets": ".assets",
    "sqlmesh_definitions": ".assets",
    "sqlmesh_due_sensor": ".automation.sensor",
    "SQLMeshProjectComponent": ".component",
    "Manifest": ".definitions.manifest",
    "SQLMeshExternalTable": ".definitions.manifest",
    "SQLMeshModel": ".definitions.manifest",
    "load_manifest": ".definitions.manifest",
    "partition_interval": ".definitions.partitions",
    "partition_keys": ".definitions.partitions",
    "partitions_definition": ".definitions.partitions",
    "SQLMeshProject": ".definitions.project",
    "absolute_duckdb_paths": ".definitions.project",
    "environment_from_env": ".definitions.project",
    "pull_request_environment": ".definitions.project",
    "SQLMeshSpecs": ".definitions.specs",
    "build_specs": ".definitions.specs",
    "SQLMeshAssetProps": ".definitions.translator",
    "SQLMeshTranslator": ".definitions.translator",
    "SQLMeshTranslatorSettings": ".definitions.translator",
    "SQLMeshIntegrationError": ".errors",
    "SQLMeshResource": ".execution.resource",
    "SQLMeshRunConfig": ".execution.restatement",
    "TAG_RESTATE": ".metadata",
    "SQLMeshJanitorConfig": ".operations.janitor",
    "sqlmesh_janitor_job": ".operations.janitor",
    "sqlmesh_janitor_schedule": ".operations.janitor",
}


def __getattr__(name: str) -> Any:
    """Imports the module that defines the public name `name` (once: then it is a global)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


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
