"""The prepared manifest: everything the asset definitions need, read without importing SQLMesh.

Loading a Dagster code location imports it, on every deploy and often in between. Opening a SQLMesh
context costs seconds (and a state connection), so, like dagster-dbt's `manifest.json`, the metadata
is prepared ahead of time (`sqlmesh-dagster prepare`, run by CI before the deploy build) and shipped
with the code. Locally the manifest refreshes itself whenever the SQLMesh project's files change,
from the files alone: loading definitions never opens the DuckDB file or the state database, so it
never collides with a run that holds them. When the project itself does not load (a model or config
error), the last good manifest is served with a warning naming the error; any other error is raised.
In a Dagster+ deployment a missing or stale manifest is an error that names the fix.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import (
    ManifestInvalidError,
    ManifestMissingError,
    ManifestStaleError,
    ProjectLoadError,
    mask_secrets,
)
from .project import SQLMeshProject, is_deployment

logger = logging.getLogger(__name__)

MANIFEST_FORMAT = 3
RefreshMode = Literal["auto", "always", "never"]


@dataclass(frozen=True)
class SQLMeshColumn:
    """A column of a model or external table."""

    name: str
    type: str
    description: str | None = None


@dataclass(frozen=True)
class SQLMeshAudit:
    """An audit attached to a model; it becomes a Dagster asset check."""

    name: str
    blocking: bool
    arguments: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SQLMeshModel:
    """What the asset definitions need of one SQLMesh model.

    `name` is SQLMesh's fully qualified name (`"catalog"."schema"."table"`), the identity that flows
    from SQLMesh to Dagster (it travels on each AssetSpec as metadata, so a run maps asset keys back
    to models). `start` is the model's start as written (it may be relative, `'1 week ago'`);
    `partition_start` is the start SQLMesh computes for it (the start, or the parents' earliest
    when none is set), floored to the interval unit and resolved when the manifest was prepared,
    in ISO format, UTC: the first partition (see `partitions.py`).
    """

    name: str
    catalog: str | None
    schema: str
    table: str
    kind: str
    dialect: str
    cron: str
    interval_unit: str | None = None
    start: str | None = None
    description: str | None = None
    owner: str | None = None
    tags: tuple[str, ...] = ()
    columns: tuple[SQLMeshColumn, ...] = ()
    grains: tuple[str, ...] = ()
    time_column: str | None = None
    depends_on: tuple[str, ...] = ()
    audits: tuple[SQLMeshAudit, ...] = ()
    file_path: str | None = None
    snapshot_identifier: str = ""
    snapshot_version: str = ""
    physical_table: str | None = None
    partition_start: str | None = None

    @property
    def is_embedded(self) -> bool:
        """EMBEDDED models have no table: SQLMesh inlines their query where they are read."""
        return self.kind == "EMBEDDED"

    @property
    def view_name(self) -> str:
        """The `schema.table` name users query in the prod environment."""
        return f"{self.schema}.{self.table}"

    def environment_view_name(self, environment: str) -> str:
        """The view name in an environment (SQLMesh suffixes the schema outside prod)."""
        if environment == "prod":
            return self.view_name
        return f"{self.schema}__{environment}.{self.table}"


@dataclass(frozen=True)
class SQLMeshExternalTable:
    """A table SQLMesh reads but does not build (`external_models.yaml` or an undeclared source)."""

    name: str
    catalog: str | None
    schema: str
    table: str
    description: str | None = None
    columns: tuple[SQLMeshColumn, ...] = ()
    audits: tuple[SQLMeshAudit, ...] = ()
    snapshot_identifier: str = ""


@dataclass(frozen=True)
class SQLMeshStandaloneAudit:
    """An audit file with `standalone true`: a node of its own in SQLMesh's graph.

    SQLMesh runs it in `sqlmesh run` on its own cron, after the models it reads. It becomes one
    Dagster asset check (see `specs.standalone_check_spec` for the asset it is attached to).
    """

    name: str
    blocking: bool
    depends_on: tuple[str, ...] = ()
    description: str | None = None
    cron: str = "@daily"
    file_path: str | None = None
    snapshot_identifier: str = ""


@dataclass(frozen=True)
class Manifest:
    """The prepared description of a SQLMesh project.

    Models are in topological order (upstream first).
    """

    project_fingerprint: str
    gateway: str
    engine: str
    dialect: str
    default_catalog: str | None
    sqlmesh_version: str
    models: tuple[SQLMeshModel, ...]
    external_tables: tuple[SQLMeshExternalTable, ...] = ()
    standalone_audits: tuple[SQLMeshStandaloneAudit, ...] = ()
    format: int = MANIFEST_FORMAT

    def model(self, name: str) -> SQLMeshModel:
        """Returns the model with this fully qualified name."""
        for model in self.models:
            if model.name == name:
                return model
        raise KeyError(name)

    def to_json(self) -> str:
        """Serializes the manifest (stable key order, so diffs are readable)."""
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parses a manifest written by :meth:`to_json`."""
        data = json.loads(text)
        if data.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {MANIFEST_FORMAT}")
        return cls(
            project_fingerprint=data["project_fingerprint"],
            gateway=data["gateway"],
            engine=data["engine"],
            dialect=data["dialect"],
            default_catalog=data["default_catalog"],
            sqlmesh_version=data["sqlmesh_version"],
            models=tuple(_model_from_dict(item) for item in data["models"]),
            external_tables=tuple(
                SQLMeshExternalTable(
                    **{
                        **item,
                        "columns": tuple(SQLMeshColumn(**c) for c in item["columns"]),
                        "audits": tuple(SQLMeshAudit(**audit) for audit in item["audits"]),
                    }
                )
                for item in data["external_tables"]
            ),
            standalone_audits=tuple(
                SQLMeshStandaloneAudit(**{**item, "depends_on": tuple(item["depends_on"])})
                for item in data["standalone_audits"]
            ),
        )


def project_fingerprint(project: SQLMeshProject) -> str:
    """A hash of the project's source files and gateway choice, to tell when a manifest is stale."""
    digest = hashlib.sha256()
    selected_gateway = project.gateway or os.environ.get("SQLMESH_GATEWAY", "").strip()
    digest.update(f"gateway={selected_gateway}\n".encode())
    for path in project.source_files():
        digest.update(path.relative_to(project.project_dir).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def write_manifest(project: SQLMeshProject, manifest: Manifest) -> Path:
    """Writes the manifest atomically (a reader never sees half a file)."""
    path = project.resolved_manifest_path
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(manifest.to_json())
    temporary.replace(path)
    return path


def read_manifest(project: SQLMeshProject) -> Manifest:
    """Reads the manifest as it is on disk, stale or not."""
    path = project.resolved_manifest_path
    if not path.exists():
        raise ManifestMissingError(str(path))
    try:
        return Manifest.from_json(path.read_text())
    except (ValueError, KeyError, TypeError) as error:
        raise ManifestInvalidError(str(path), str(error) or type(error).__name__) from error


def load_manifest(project: SQLMeshProject, refresh: RefreshMode | None = None) -> Manifest:
    """Returns an up-to-date manifest for the project.

    Args:
        project: The SQLMesh project.
        refresh: `auto` (default; the `SQLMESH_MANIFEST_REFRESH` variable can set it): refresh a
            missing or
            stale manifest locally, but refuse one in a Dagster+ deployment, where the manifest
            prepared in CI
            must match the deployed files. `always` prepares a new one. `never` refuses a missing or
            stale one.

    Raises:
        ManifestMissingError: no manifest and refreshing is not allowed.
        ManifestStaleError: the manifest does not match the project files and refreshing is not
            allowed.
    """
    mode = refresh or _refresh_mode_from_env()
    allow_refresh = mode == "always" or (mode == "auto" and not is_deployment())
    path = project.resolved_manifest_path
    current: Manifest | None = None
    if path.exists() and mode != "always":
        try:
            current = read_manifest(project)
        except ManifestInvalidError:
            if not allow_refresh:
                raise
        if current is not None and current.project_fingerprint == project_fingerprint(project):
            return current
    if not allow_refresh:
        if current is None:
            raise ManifestMissingError(str(path))
        raise ManifestStaleError(str(path))
    return _refresh(project, fallback=current)


def _refresh(project: SQLMeshProject, fallback: Manifest | None) -> Manifest:
    from .prepare import prepare_manifest  # imports SQLMesh: only when a refresh is needed

    try:
        # Never the state: it lives in the DuckDB file a run may hold (or a remote database), and
        # loading definitions must not wait for, nor collide with, either. Versions come from the
        # code; `sqlmesh-dagster prepare` (CI) reads the applied ones.
        manifest = prepare_manifest(project, read_state=False)
    except ProjectLoadError as error:
        if fallback is None:
            raise
        logger.warning(
            "%s Until it loads, serving the last good one from %s.",
            mask_secrets(str(error)),
            project.resolved_manifest_path,
        )
        return fallback
    write_manifest(project, manifest)
    return manifest


def _refresh_mode_from_env() -> RefreshMode:
    value = os.environ.get("SQLMESH_MANIFEST_REFRESH", "auto").strip().lower()
    if value not in ("auto", "always", "never"):
        raise ValueError(
            f"SQLMESH_MANIFEST_REFRESH={value!r} is not valid: use auto, always or never."
        )
    return value  # type: ignore[return-value]


def _model_from_dict(data: dict[str, Any]) -> SQLMeshModel:
    return SQLMeshModel(
        **{
            **data,
            "tags": tuple(data["tags"]),
            "grains": tuple(data["grains"]),
            "depends_on": tuple(data["depends_on"]),
            "columns": tuple(SQLMeshColumn(**column) for column in data["columns"]),
            "audits": tuple(SQLMeshAudit(**audit) for audit in data["audits"]),
        }
    )
