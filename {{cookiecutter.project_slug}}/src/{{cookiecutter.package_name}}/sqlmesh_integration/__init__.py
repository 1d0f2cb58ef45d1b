"""SQLMesh → Dagster: models as assets, audits as asset checks, `sqlmesh run` to materialize.

Importing this package is cheap: it does not import SQLMesh. Definitions are built from a prepared
manifest (`manifest.py`), kept as the Dagster defs state of `SQLMeshProjectComponent`
(`component.py`, configured in `defs.yaml`) or read from a file by `@sqlmesh_assets` (`assets.py`);
SQLMesh is imported only to prepare a manifest (`prepare.py`) or to run (`runner.py`), to ask which
models are due (`due.py`, from the sensor's tick) and to read what SQLMesh filled outside Dagster
(`filled.py`, for the mirror). Planning and applying code stay with the SQLMesh CLI (in CI); a run
applies only the data-only restatement it was explicitly asked for (`restatement.py`).
"""

from __future__ import annotations

from .assets import project_specs, sqlmesh_assets, sqlmesh_definitions
from .automation import sqlmesh_due_sensor
from .component import SQLMeshProjectComponent
from .errors import SQLMeshIntegrationError
from .janitor import SQLMeshJanitorConfig, sqlmesh_janitor_job, sqlmesh_janitor_schedule
from .manifest import Manifest, SQLMeshExternalTable, SQLMeshModel, load_manifest
from .metadata import TAG_RESTATE
from .partitions import partition_interval, partition_keys, partitions_definition
from .project import SQLMeshProject, environment_from_env, pull_request_environment
from .resource import SQLMeshResource
from .restatement import SQLMeshRunConfig
from .specs import SQLMeshSpecs, build_specs
from .translator import SQLMeshAssetProps, SQLMeshTranslator, SQLMeshTranslatorSettings

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
