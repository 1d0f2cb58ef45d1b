"""The prepared manifest: everything the asset definitions need, read without importing SQLMesh.

Loading a Dagster code location imports it, on every deploy and often in between. Opening a SQLMesh
context costs seconds (and a state connection), so, like dagster-dbt's `manifest.json`, the metadata
is prepared ahead of time (`prepare/manifest_builder.py`) and loaded as it is. The component keeps
it as its Dagster defs state (`component.py`); the `@sqlmesh_assets` decorator reads it from a file
written by `sqlmesh-dagster prepare`. Either way a missing, stale (prepared from other project
files) or unreadable manifest is an error naming the command that prepares it: definitions never
load from it silently.

This module holds the data and its checks only: it imports neither SQLMesh nor `prepare/`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import (
    ManifestInvalidError,
    ManifestMissingError,
    ManifestStaleError,
    ModelNotFoundError,
)
from .project import SQLMeshProject

MANIFEST_FORMAT = 6
# The command that prepares the manifest file the `@sqlmesh_assets` decorator reads.
PREPARE_COMMAND = "uv run sqlmesh-dagster prepare"


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


# Column lineage of a model: each traced column with the upstream columns it reads, as
# (SQLMesh name of the upstream model or external table, column name) pairs.
ColumnLineage = Mapping[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class SQLMeshModel:
    """What the asset definitions need of one SQLMesh model.

    `name` is SQLMesh's fully qualified name (`"catalog"."schema"."table"`), the identity that flows
    from SQLMesh to Dagster (it travels on each AssetSpec as metadata, so a run maps asset keys back
    to models). `start` is the model's start as written (it may be relative, `'1 week ago'`);
    `partition_start` is the start SQLMesh computes for it (the start, or the parents' earliest
    when none is set), floored to the interval unit and resolved when the manifest was prepared,
    in ISO format, UTC: the first partition (see `partitions.py`); `partition_end` is the end
    (exclusive) of its last interval when the model has an `end`, else None. `project` is the
    SQLMesh project that defines it (its config's `project`; "" when unnamed).
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
    end: str | None = None
    cron_tz: str | None = None
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
    column_lineage: ColumnLineage = field(default_factory=dict)
    partition_start: str | None = None
    partition_end: str | None = None
    project: str = ""

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
    `name` is its node's name in SQLMesh's graph (and its snapshot's); `subject` the node it
    checks when SQLMesh says which (a dbt test's model, see `audit_subjects.py`), else None.
    """

    name: str
    blocking: bool
    depends_on: tuple[str, ...] = ()
    description: str | None = None
    cron: str = "@daily"
    file_path: str | None = None
    snapshot_identifier: str = ""
    subject: str | None = None


@dataclass(frozen=True)
class SQLMeshSourceRepository:
    """Where the SQLMesh project sits in its git repository, recorded when the manifest is prepared.

    Attributes:
        project_path: The project folder relative to the repository root
            (`src/pkg/sqlmesh_project`); a deployed package has no repository around it to ask.
        url: The repository's web address when known at prepare time (GitHub Actions sets
            `GITHUB_SERVER_URL` and `GITHUB_REPOSITORY`).
        revision: The commit prepared (`DEPLOY_COMMIT_SHA`, else `GITHUB_SHA`), when known.
    """

    project_path: str
    url: str | None = None
    revision: str | None = None


@dataclass(frozen=True)
class Manifest:
    """The prepared description of a SQLMesh project.

    Models are in topological order (upstream first). `upstream_models` are models the manifest's
    models read but that it does not define: another SQLMesh project's (multi-repo) or models a
    component's `select`/`exclude` left out. They are never assets of this manifest, only
    dependencies on their asset keys, so the asset graph keeps every edge of SQLMesh's DAG.
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
    repository: SQLMeshSourceRepository | None = None
    upstream_models: tuple[SQLMeshModel, ...] = ()
    format: int = MANIFEST_FORMAT

    def model(self, name: str) -> SQLMeshModel:
        """Returns the model with this fully qualified name."""
        for model in self.models:
            if model.name == name:
                return model
        raise ModelNotFoundError(name)

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
            repository=(
                SQLMeshSourceRepository(**data["repository"]) if data.get("repository") else None
            ),
            upstream_models=tuple(_model_from_dict(item) for item in data["upstream_models"]),
        )


def project_fingerprint(project: SQLMeshProject) -> str:
    """A hash of the project's source files and gateway choice, to tell when a manifest is stale."""
    digest = hashlib.sha256()
    digest.update(f"gateway={project.requested_gateway}\n".encode())
    top = Path(os.path.abspath(project.project_dir))
    for path in project.source_files():
        # Relative to the first folder (`../repo_2/...` for a folder loaded beside it).
        digest.update(Path(os.path.relpath(path, top)).as_posix().encode())
        digest.update(b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError as error:
            # Unreadable (permissions), or gone since it was listed: SQLMesh, not the fingerprint,
            # says what is wrong with it when it loads the project.
            digest.update(f"<unreadable: {error.strerror}>".encode())
        digest.update(b"\0")
    return digest.hexdigest()


def write_manifest(path: Path, manifest: Manifest) -> Path:
    """Writes the manifest atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(manifest.to_json())
    temporary.replace(path)
    return path


def read_manifest(path: Path, command: str = PREPARE_COMMAND) -> Manifest:
    """Reads the manifest as it is on disk, stale or not.

    Raises:
        ManifestMissingError: no file at `path`.
        ManifestInvalidError: the file is not a manifest of this format.
    """
    if not path.exists():
        raise ManifestMissingError(str(path), command)
    try:
        return Manifest.from_json(path.read_text())
    except (ValueError, KeyError, TypeError) as error:
        reason = str(error) or type(error).__name__
        raise ManifestInvalidError(str(path), reason, command) from error


def is_current(manifest: Manifest, project: SQLMeshProject) -> bool:
    """Whether the manifest was prepared from the project's files as they are now."""
    return manifest.project_fingerprint == project_fingerprint(project)


def read_current_manifest(
    path: Path | None, project: SQLMeshProject, command: str = PREPARE_COMMAND
) -> Manifest:
    """Reads a manifest and refuses it unless it matches the project's files.

    Args:
        path: The manifest file; None when none was ever written (Dagster passes None for a
            component whose state was never refreshed).
        project: The SQLMesh project the manifest describes.
        command: The command that prepares it, named in the errors.

    Raises:
        ManifestMissingError: no manifest.
        ManifestInvalidError: the file cannot be read.
        ManifestStaleError: the manifest was prepared from other project files.
    """
    if path is None:
        raise ManifestMissingError(f"the Dagster defs state of {project.project_dir}", command)
    manifest = read_manifest(path, command)
    if not is_current(manifest, project):
        raise ManifestStaleError(str(path), command)
    return manifest


def load_manifest(project: SQLMeshProject) -> Manifest:
    """The project's manifest file (`sqlmesh-dagster prepare` writes it), checked to be current.

    For the `@sqlmesh_assets` decorator and Python code; the component keeps its manifest as Dagster
    defs state instead.
    """
    return read_current_manifest(project.resolved_manifest_path, project)


def _model_from_dict(data: dict[str, Any]) -> SQLMeshModel:
    return SQLMeshModel(
        **{
            **data,
            "tags": tuple(data["tags"]),
            "grains": tuple(data["grains"]),
            "depends_on": tuple(data["depends_on"]),
            "columns": tuple(SQLMeshColumn(**column) for column in data["columns"]),
            "audits": tuple(SQLMeshAudit(**audit) for audit in data["audits"]),
            "column_lineage": {
                column: tuple((upstream, name) for upstream, name in sources)
                for column, sources in data["column_lineage"].items()
            },
        }
    )


def display_name(name: str) -> str:
    """A SQLMesh name as users write it: `"catalog"."schema"."table"` as `schema.table`.

    Example:
        >>> display_name('"db"."marts"."orders"')
        'marts.orders'
    """
    parts = [part.strip('"') for part in name.split(".")]
    return ".".join(parts[-2:])
