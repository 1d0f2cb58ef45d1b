"""Preparing the manifest from a SQLMesh context (imports SQLMesh: never imported at load).

The manifest is built from the project files; the SQLMesh state is read, when reachable, only to
learn the versions and physical tables of snapshots that were already applied. Preparing never plans
or applies anything.
"""

from __future__ import annotations

import logging
import os
import typing as t
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path

from pydantic import ValidationError
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlmesh.core.snapshot.definition import start_date
from sqlmesh.utils.date import to_datetime
from sqlmesh.utils.errors import SQLMeshError

from ..connection.context import (
    duckdb_database_path,
    gateway_name,
    is_connection_error,
    load_config,
    open_context,
    sqlmesh_lock,
)
from ..definitions.accounting import account_for_nodes
from ..definitions.audit_subjects import audit_subject
from ..definitions.code_references import source_repository
from ..definitions.manifest import (
    Manifest,
    SQLMeshAudit,
    SQLMeshColumn,
    SQLMeshExternalTable,
    SQLMeshModel,
    SQLMeshStandaloneAudit,
    project_fingerprint,
)
from ..definitions.project import SQLMeshProject
from ..errors import ProjectLoadError, mask_secrets, masked_cause
from .lineage import model_column_lineage

if t.TYPE_CHECKING:
    from sqlmesh.core.context import Context
    from sqlmesh.core.model import Model
    from sqlmesh.core.snapshot import Snapshot

logger = logging.getLogger(__name__)


def prepare_manifest(project: SQLMeshProject, *, read_state: bool = True) -> Manifest:
    """Loads the SQLMesh project and returns its manifest.

    Args:
        project: The SQLMesh project.
        read_state: Read applied snapshot versions from the state database. When the state cannot
            be reached the manifest is still prepared, with versions computed from the code alone.

    Raises:
        ProjectLoadError: SQLMesh could not load the project (a model or config error).
    """
    # One SQLMesh project at a time in this process: its load and the state reads after it
    # (`dg utils refresh-defs-state` prepares several components at once, in threads).
    with sqlmesh_lock():
        return _prepare_manifest(project, read_state=read_state)


def _prepare_manifest(project: SQLMeshProject, *, read_state: bool) -> Manifest:
    fingerprint = project_fingerprint(project)
    try:
        config = load_config(project)  # once
        context = open_context(project, load=True, config=config)
    # What SQLMesh raises for the project's own files: its config and model errors, SQL it cannot
    # parse, settings that do not validate, Python (macros, models, config.py) that does not import,
    # a file it cannot read (a dangling symlink named like a model). Anything else is a bug and is
    # raised as it is.
    except (
        SQLMeshError,
        SqlglotError,
        ValidationError,
        SyntaxError,
        ImportError,
        OSError,
    ) as error:
        raise ProjectLoadError(str(project.project_dir), error) from masked_cause(error)
    try:
        database = duckdb_database_path(project, config)
        # Never create a DuckDB file just to look for state in it (loading definitions must not
        # leave files behind): a database that does not exist yet holds no applied versions.
        has_state = database is None or database.exists()
        snapshots = _snapshots(context, read_state=read_state and has_state)
        gateway = gateway_name(project, config)
        connection = config.get_gateway(gateway).connection
        engine = connection.type_ if connection is not None else context.engine_adapter.dialect
        starts = _PartitionStarts(snapshots)
        own_models, upstream_names = project_models(context)
        models = [
            _model_entry(
                project,
                context,
                context.models[name],
                snapshots[name],
                starts.start(snapshots[name]),
                starts.end(snapshots[name]),
            )
            for name in own_models
        ]
        upstream_models = [
            _model_entry(project, context, context.models[name], snapshots[name], None, None)
            for name in upstream_names
        ]
        standalone_audits = _standalone_audits(project, context, snapshots)
        manifest = Manifest(
            project_fingerprint=fingerprint,
            gateway=gateway,
            engine=str(engine),
            dialect=context.config.dialect or "",
            default_catalog=context.default_catalog,
            sqlmesh_version=package_version("sqlmesh"),
            models=tuple(models),
            external_tables=tuple(
                _external_tables(
                    context, snapshots, set(own_models), set(upstream_names), standalone_audits
                )
            ),
            standalone_audits=tuple(standalone_audits),
            repository=source_repository(project.project_dir),
            upstream_models=tuple(upstream_models),
        )
        account_for_nodes(context, manifest)
        return manifest
    finally:
        context.close()


def own_projects(context: Context) -> set[str]:
    """The SQLMesh projects the context loaded from files (their configs' `project`).

    In SQLMesh's multi-repo mode a context over some of the projects also holds the models and
    standalone audits of the others, loaded from prod's state; `node.project` tells them apart.
    A project whose config names none is "" (and its nodes too).
    """
    return {config.project for config in context.configs.values()}


def project_models(context: Context) -> tuple[list[str], list[str]]:
    """The models the context's own projects define, and the other projects' models they read.

    The first (topological order) become assets; the second only dependencies on their asset keys
    (`Manifest.upstream_models`), so a cross-project reference stays an edge of the asset graph
    and another project's models are never defined twice. External models are neither (see
    :func:`_external_tables`).
    """
    projects = own_projects(context)
    own = [
        name
        for name in context.dag.sorted
        if name in context.models
        and not context.models[name].kind.is_external
        and context.models[name].project in projects
    ]
    own_names = set(own)
    upstream = {
        dependency
        for name in own
        for dependency in context.models[name].depends_on or ()
        if dependency not in own_names
        and dependency in context.models
        and not context.models[dependency].kind.is_external
    }
    return own, sorted(upstream)


def _snapshots(context: Context, *, read_state: bool) -> dict[str, Snapshot]:
    if read_state:
        try:
            return dict(context.snapshots)
        except Exception as error:
            if not is_connection_error(error):
                raise
            # The state database is optional for preparing: versions then come from the code.
            logger.warning(
                "SQLMesh state not reachable (%s); preparing the manifest from the code alone.",
                mask_secrets(str(error)),
            )
    # Same snapshots as `Context.snapshots`, without the state look-up of applied versions.
    return dict(context._nodes_to_snapshots({**context.models, **context.standalone_audits}))


def _model_entry(
    project: SQLMeshProject,
    context: Context,
    model: Model,
    snapshot: Snapshot,
    partition_start: str | None,
    partition_end: str | None,
) -> SQLMeshModel:
    table = exp.to_table(model.fqn)
    columns = _columns(model)
    version = snapshot.version or snapshot.fingerprint.to_version()
    time_column = getattr(model, "time_column", None)
    return SQLMeshModel(
        name=model.fqn,
        catalog=table.catalog or None,
        schema=table.db,
        table=table.name,
        kind=model.kind.name.value if hasattr(model.kind.name, "value") else str(model.kind.name),
        dialect=model.dialect or context.config.dialect or "",
        cron=str(model.cron),
        interval_unit=model.interval_unit.value if model.interval_unit else None,
        start=str(model.start) if model.start is not None else None,
        end=str(model.end) if model.end is not None else None,
        cron_tz=str(model.cron_tz) if model.cron_tz is not None else None,
        description=model.description,
        owner=model.owner,
        tags=tuple(model.tags),
        columns=columns,
        grains=tuple(grain.sql(dialect=model.dialect) for grain in model.grains),
        time_column=time_column.column.sql(dialect=model.dialect) if time_column else None,
        depends_on=tuple(sorted(model.depends_on or ())),
        audits=tuple(_audits(model)),
        file_path=_relative_path(project, model),
        snapshot_identifier=snapshot.snapshot_id.identifier,
        snapshot_version=version,
        physical_table=(
            snapshot.table_name() if snapshot.version and not model.kind.is_embedded else None
        ),
        column_lineage=model_column_lineage(context, model),
        partition_start=partition_start,
        partition_end=partition_end,
        project=model.project,
    )


class _PartitionStarts:
    """The start SQLMesh computes for each model, floored to its interval unit (ISO, UTC).

    SQLMesh's own `start_date`: the model's start (a relative one, `'1 week ago'`, resolved now),
    or the earliest start of its parents when it has none. Resolving it here, once per prepared
    manifest, gives Dagster a fixed first partition (see docs/integration.md, "Partitions").
    """

    def __init__(self, snapshots: t.Mapping[str, Snapshot]) -> None:
        self._snapshots = {snapshot.snapshot_id: snapshot for snapshot in snapshots.values()}
        self._cache: dict[str, datetime] = {}
        self._now = datetime.now(UTC)

    def start(self, snapshot: Snapshot) -> str | None:
        if not snapshot.is_model or snapshot.model.kind.is_symbolic:
            return None
        start = start_date(snapshot, self._snapshots, cache=self._cache, relative_to=self._now)
        unit = snapshot.node.interval_unit
        if unit is None:
            return None
        return _utc(unit.cron_floor(start)).isoformat()

    def end(self, snapshot: Snapshot) -> str | None:
        """The end of the model's last interval when it has an `end` (exclusive), else None."""
        if not snapshot.is_model or snapshot.model.kind.is_symbolic or snapshot.model.end is None:
            return None
        unit = snapshot.node.interval_unit
        if unit is None:
            return None
        end = to_datetime(snapshot.model.end, relative_base=self._now)
        return _utc(unit.cron_next(unit.cron_floor(end))).isoformat()


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _standalone_audits(
    project: SQLMeshProject, context: Context, snapshots: t.Mapping[str, Snapshot]
) -> list[SQLMeshStandaloneAudit]:
    entries = []
    projects = own_projects(context)
    # By the audit's own name, the name of its snapshot and node in SQLMesh's graph: the keys of
    # `context.standalone_audits` may differ (dbt tests are keyed `<package>.<test>`).
    for audit in sorted(context.standalone_audits.values(), key=lambda audit: audit.name):
        if audit.skip:
            continue  # SQLMesh never runs it
        if audit.project not in projects:
            continue  # another multi-repo project's: a check of that project's component
        snapshot = snapshots.get(audit.name)
        entries.append(
            SQLMeshStandaloneAudit(
                name=audit.name,
                blocking=bool(audit.blocking),
                depends_on=tuple(sorted(audit.depends_on or ())),
                description=audit.description,
                cron=str(audit.cron),
                file_path=_relative_path(project, audit),
                snapshot_identifier=snapshot.snapshot_id.identifier if snapshot else "",
                subject=audit_subject(audit, context.models),
            )
        )
    return entries


def _audits(model: Model) -> list[SQLMeshAudit]:
    entries: list[SQLMeshAudit] = []
    for audit, arguments in model.audits_with_args:
        if audit.skip:
            continue  # SQLMesh never runs it: no check that could only ever be "not run"
        blocking_argument = arguments.get("blocking")
        blocking = (
            blocking_argument == exp.true() if blocking_argument is not None else audit.blocking
        )
        entries.append(
            SQLMeshAudit(
                name=audit.name,
                blocking=bool(blocking),
                arguments={
                    key: value.sql(dialect=model.dialect)
                    for key, value in sorted(arguments.items())
                    if key != "blocking"
                },
            )
        )
    return entries


def _external_tables(
    context: Context,
    snapshots: t.Mapping[str, Snapshot],
    model_names: set[str],
    upstream_names: set[str],
    standalone_audits: t.Sequence[SQLMeshStandaloneAudit],
) -> list[SQLMeshExternalTable]:
    """The tables the models read but SQLMesh does not build, and the declared external models.

    Tables read by the models or checked by standalone audits (dbt's source tests). Another
    multi-repo project's models (`upstream_names`) are not tables of this kind: they are
    dependencies on their assets. An external model declared by another project is listed when
    read, without its audits (checks of that project's component); the two external assets are
    the same spec, which Dagster merges.
    """
    projects = own_projects(context)
    external = {name: model for name, model in context.models.items() if model.kind.is_external}
    declared = {name: model for name, model in external.items() if model.project in projects}
    not_tables = model_names | upstream_names
    referenced = {
        dependency
        for model in context.models.values()
        if model.fqn in model_names
        for dependency in model.depends_on or ()
        if dependency not in not_tables
    } | {
        dependency
        for audit in standalone_audits
        for dependency in audit.depends_on
        if dependency not in not_tables
    }
    tables = []
    for name in sorted(referenced | set(declared)):
        table = exp.to_table(name)
        model = external.get(name)
        own = name in declared
        tables.append(
            SQLMeshExternalTable(
                name=name,
                catalog=table.catalog or None,
                schema=table.db,
                table=table.name,
                description=model.description if model else None,
                columns=_columns(model) if model else (),
                audits=tuple(_audits(model)) if model and own else (),
                snapshot_identifier=(
                    snapshots[name].snapshot_id.identifier
                    if model and own and name in snapshots
                    else ""
                ),
            )
        )
    return tables


def _columns(model: Model) -> tuple[SQLMeshColumn, ...]:
    descriptions = model.column_descriptions or {}
    return tuple(
        SQLMeshColumn(
            name=name,
            type=data_type.sql(dialect=model.dialect),
            description=descriptions.get(name),
        )
        for name, data_type in (model.columns_to_types or {}).items()
    )


def _relative_path(project: SQLMeshProject, node: t.Any) -> str | None:
    location = getattr(node, "_path", None)
    if location is None:
        return None
    path = Path(location).resolve()
    # Relative to `project_dir` (`../repo_2/models/c.sql` for a folder loaded beside it).
    if any(path.is_relative_to(folder.resolve()) for folder in project.project_dirs):
        return Path(os.path.relpath(path, project.project_dir.resolve())).as_posix()
    return str(path)
