"""`SQLMeshProjectComponent`: a SQLMesh project as a Dagster component, configured in `defs.yaml`.

A state-backed component (Dagster's `StateBackedComponent`): its state is the prepared manifest.

- `write_state_to_path` prepares the manifest (imports SQLMesh). `dg utils refresh-defs-state`
  (CI, before the deploy build) prepares it with the applied versions from the SQLMesh state.
  `dg dev` and the other `dg` commands refresh it as they load (`defs_state.refresh_if_dev`),
  from the project files alone, and keep it as it is while those files are unchanged.
- `build_defs_from_state` builds the definitions from it without importing SQLMesh or opening a
  connection. A missing manifest, or one prepared from other project files than the ones loaded,
  is an error naming `dg utils refresh-defs-state`: no code location loads stale assets.

Example `defs.yaml` (paths are relative to the folder holding it):

    type: my_platform.sqlmesh_integration.SQLMeshProjectComponent
    attributes:
      project: ../../sqlmesh_project
      select: "marts.* +marts.customers"
      translation:
        group_name: "warehouse"
        key: "sqlmesh/{{ model.schema }}/{{ model.table }}"
      op:
        name: sqlmesh_models
        tags: {team: data}
"""

# No `from __future__ import annotations`: Dagster resolves the fields' annotations (`Resolvable`)
# and checks the step's `context` annotation at definition time.

import os
import re
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import dagster as dg
from dagster.components.component.state_backed_component import StateBackedComponent
from dagster.components.component_scaffolding import scaffold_component
from dagster.components.resolved.context import ResolutionContext
from dagster.components.resolved.core_models import OpSpec
from dagster.components.resolved.model import Resolver
from dagster.components.scaffold.scaffold import Scaffolder, ScaffoldRequest, scaffold_with
from dagster.components.utils.defs_state import (
    DefsStateConfig,
    DefsStateConfigArgs,
    ResolvedDefsStateConfig,
)
from dagster.components.utils.translation import TranslationFn, TranslationFnResolver
from pydantic import BaseModel

from .assets import DEFAULT_NAME, DEFAULT_POOL, sqlmesh_definitions
from .definitions.manifest import (
    Manifest,
    is_current,
    read_current_manifest,
    read_manifest,
    write_manifest,
)
from .definitions.project import SQLMeshProject, is_deployment
from .definitions.selection import select_manifest
from .definitions.specs import build_specs
from .definitions.translator import SQLMeshAssetProps, SQLMeshTranslator, SQLMeshTranslatorSettings
from .errors import SQLMeshIntegrationError
from .execution.resource import SQLMeshResource
from .operations.janitor import DEFAULT_JANITOR_CRON

# The command that prepares the component's state, named in the errors of a missing or stale one.
REFRESH_COMMAND = "uv run dg utils refresh-defs-state"
IncludeMetadata = Literal["row_count", "column_lineage"]
# Set while Dagster loads the component: a refresh it starts then is a load-time (dev) one.
_LOADING: ContextVar[bool] = ContextVar("sqlmesh_component_loading", default=False)


def _resolve_project(
    resolution_context: ResolutionContext, value: str | list[str]
) -> str | list[str]:
    """The project folder(s): relative paths resolve against the folder holding the `defs.yaml`."""
    if isinstance(value, list):
        return [_resolve_folder(resolution_context, item) for item in value]
    return _resolve_folder(resolution_context, value)


def _resolve_folder(resolution_context: ResolutionContext, value: str) -> str:
    text = resolution_context.resolve_value(value, as_type=str)
    return str(resolution_context.resolve_source_relative_path(text))


class SQLMeshScaffoldParams(BaseModel):
    """`dg scaffold defs ... --project-path <folder>`: the SQLMesh project folder to load."""

    project_path: str | None = None
    gateway: str | None = None


class SQLMeshProjectComponentScaffolder(Scaffolder[SQLMeshScaffoldParams]):
    """Writes a `defs.yaml` that loads as it is: the project path relative to it, a unique op."""

    @classmethod
    def get_scaffold_params(cls) -> type[SQLMeshScaffoldParams]:
        """The `--project-path` and `--gateway` options of `dg scaffold defs`."""
        return SQLMeshScaffoldParams

    def scaffold(self, request: ScaffoldRequest[SQLMeshScaffoldParams]) -> None:
        """Writes the `defs.yaml`."""
        if not request.params.project_path:
            raise SQLMeshIntegrationError(
                "SQLMeshProjectComponent needs the SQLMesh project folder: pass "
                "`--project-path <folder holding config.yaml>` to `dg scaffold defs`."
            )
        project_dir = Path(request.params.project_path).absolute()
        if not any((project_dir / name).is_file() for name in ("config.yaml", "config.py")):
            raise SQLMeshIntegrationError(
                f"{project_dir} holds no SQLMesh config.yaml or config.py: pass the SQLMesh "
                "project folder to `--project-path`."
            )
        # A unique op per folder: its sensor is `<folder>_due_models`, its resource
        # `sqlmesh_<folder>` (a folder named `sqlmesh` gets the defaults, as the shipped one).
        name = re.sub(r"\W", "_", request.target_path.name)
        attributes: dict[str, Any] = {
            "project": os.path.relpath(project_dir, start=request.target_path.absolute()),
            "op": {"name": f"{name}_models"},
        }
        if request.params.gateway:
            attributes["gateway"] = request.params.gateway
        scaffold_component(request, attributes)


@scaffold_with(SQLMeshProjectComponentScaffolder)
@dataclass
class SQLMeshProjectComponent(StateBackedComponent, dg.Resolvable):
    """A SQLMesh project as Dagster assets: one subsettable multi-asset, audits as asset checks.

    Its definitions: the multi-asset (one `sqlmesh run` of the selected models per step), external
    tables as external assets, the `SQLMeshResource` (key `sqlmesh` for the default op name
    `sqlmesh_models`), the due-driven sensor (`<op name without _models>_due_models`), SQLMesh's
    janitor job (`<op name without _models>_janitor`) on a daily schedule, and the in-process
    executor.

    Subclass it and override :meth:`execute` to change the step body.
    """

    project: Annotated[
        str | list[str],
        Resolver(
            _resolve_project,
            model_field_type=str | list[str],
            description=(
                "The SQLMesh project folder, relative to the folder of this defs.yaml; a list "
                "loads several folders in one context, as `sqlmesh -p a -p b` does (SQLMesh's "
                "multi-repo mode)."
            ),
            examples=["../../sqlmesh_project", ["../../repo_1", "../../repo_2"]],
        ),
    ]
    gateway: Annotated[
        str | None,
        Resolver.default(
            description="The SQLMesh gateway; unset: the config's default (SQLMESH_GATEWAY).",
            examples=["local"],
        ),
    ] = None
    environment: Annotated[
        str | None,
        Resolver.default(
            description=(
                "The SQLMesh environment runs target; unset: SQLMESH_ENVIRONMENT, the pull "
                "request's environment in a Dagster+ branch deployment, else prod."
            ),
        ),
    ] = None
    select: Annotated[
        str | None,
        Resolver.default(
            description="SQLMesh model selectors of the models to include (default: all).",
            examples=["marts.* +marts.customers", "tag:finance"],
        ),
    ] = None
    exclude: Annotated[
        str | None,
        Resolver.default(
            description="SQLMesh model selectors of the models to leave out.",
            examples=["staging.*"],
        ),
    ] = None
    translation: Annotated[
        TranslationFn[SQLMeshAssetProps] | None,
        TranslationFnResolver(template_vars_for_translation_fn=lambda props: {"model": props}),
    ] = None
    translation_settings: Annotated[
        SQLMeshTranslatorSettings | None,
        Resolver.default(
            description="Feature switches of the translator (SQLMeshTranslatorSettings).",
            examples=[{"enable_tag_overrides": False}],
        ),
    ] = None
    op: Annotated[
        OpSpec | None,
        Resolver.default(
            description="The multi-asset's op: name, tags, pool, backfill policy.",
            examples=[{"name": "sqlmesh_models", "tags": {"team": "data"}, "pool": "sqlmesh"}],
        ),
    ] = None
    enable_asset_checks: Annotated[
        bool,
        Resolver.default(description="Report SQLMesh audits as Dagster asset checks."),
    ] = True
    include_metadata: Annotated[
        list[IncludeMetadata],
        Resolver.default(
            description=(
                "Extra metadata: row counts (one COUNT(*) per materialized model, views "
                "excluded), column lineage. Both by default; [] for neither."
            ),
            examples=[["row_count", "column_lineage"]],
        ),
    ] = field(default_factory=lambda: ["row_count", "column_lineage"])
    janitor_cron: Annotated[
        str | None,
        Resolver.default(
            description=(
                "When the SQLMesh janitor job runs (cron, UTC); null keeps the job without a "
                "schedule."
            ),
            examples=["0 3 * * *"],
        ),
    ] = DEFAULT_JANITOR_CRON
    defs_state: ResolvedDefsStateConfig = field(
        default_factory=DefsStateConfigArgs.local_filesystem
    )

    @property
    def defs_state_config(self) -> DefsStateConfig:
        """Where the manifest is kept; the key names the SQLMesh project folder."""
        names = "+".join(folder.name for folder in self.sqlmesh_project.project_dirs)
        default_key = f"SQLMeshProjectComponent[{names}]"
        return DefsStateConfig.from_args(self.defs_state, default_key=default_key)

    @cached_property
    def sqlmesh_project(self) -> SQLMeshProject:
        """The SQLMesh project this component loads (several folders for a list)."""
        folders = [self.project] if isinstance(self.project, str) else list(self.project)
        if not folders:
            raise SQLMeshIntegrationError(
                "SQLMeshProjectComponent's `project` is an empty list: name at least one SQLMesh "
                "project folder."
            )
        return SQLMeshProject(
            Path(folders[0]),
            gateway=self.gateway,
            other_project_dirs=tuple(Path(folder) for folder in folders[1:]),
        )

    @cached_property
    def translator(self) -> SQLMeshTranslator:
        """The translator: the settings, `include_metadata` and `translation` applied."""
        settings = self.translation_settings or SQLMeshTranslatorSettings()
        included = set(self.include_metadata)
        return _ComponentTranslator(
            self,
            replace(
                settings,
                enable_row_count="row_count" in included,
                enable_column_lineage="column_lineage" in included,
            ),
        )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        """Dagster's state-backed loading; a refresh it starts here is a load-time one."""
        token = _LOADING.set(True)
        try:
            return super().build_defs(context)
        finally:
            _LOADING.reset(token)

    def write_state_to_path(self, state_path: Path) -> None:
        """Prepares the manifest into `state_path` (imports SQLMesh).

        At load (`dg dev`, `dg launch`...), from the project files only, so loading never waits
        for or collides with a run holding the DuckDB file, and not at all while the files are
        unchanged or in a Dagster+ deployment. Otherwise (`dg utils refresh-defs-state`), with
        the applied versions read from the SQLMesh state when it is reachable.
        """
        project = self.sqlmesh_project
        at_load = _LOADING.get()
        # A Dagster+ deployment loads the state CI prepared, never one of its own: a missing or
        # stale one stays an error (`build_defs_from_state`).
        if at_load and (is_deployment() or _holds_current_manifest(state_path, project)):
            return
        from .prepare.manifest_builder import (
            prepare_manifest,  # imports SQLMesh: only when preparing
        )

        write_manifest(state_path, prepare_manifest(project, read_state=not at_load))

    def build_defs_from_state(
        self, context: dg.ComponentLoadContext, state_path: Path | None
    ) -> dg.Definitions:
        """The definitions, from the manifest alone (no SQLMesh import, no connection)."""
        project = self.sqlmesh_project
        manifest = read_current_manifest(state_path, project, REFRESH_COMMAND)
        return self.build_defs_from_manifest(select_manifest(manifest, self.select, self.exclude))

    def build_defs_from_manifest(self, manifest: Manifest) -> dg.Definitions:
        """The definitions of a (selected) manifest; see :func:`sqlmesh_definitions`."""
        project = self.sqlmesh_project
        specs = build_specs(manifest, self.translator, project.project_dir)
        if not self.enable_asset_checks:
            specs = replace(specs, checks=[])
        op = self.op or OpSpec()
        resource = SQLMeshResource(
            project_dir=str(project.project_dir),
            other_project_dirs=[str(folder) for folder in project.other_project_dirs],
            gateway=self.gateway,
            environment=self.environment,
        )
        return sqlmesh_definitions(
            project,
            specs=specs,
            resource=resource,
            name=op.name or DEFAULT_NAME,
            pool=op.pool or DEFAULT_POOL,
            op_tags=op.tags,
            backfill_policy=op.backfill_policy,
            execute=self.execute,
            janitor_cron=self.janitor_cron,
        )

    def execute(self, context: dg.AssetExecutionContext, sqlmesh: SQLMeshResource) -> Iterator[Any]:
        """The step body: one `sqlmesh run` of the selected models, reported as each finishes.

        Override it in a subclass to change the step, for example:

            class LoggedSQLMeshComponent(SQLMeshProjectComponent):
                def execute(self, context, sqlmesh):
                    context.log.info("Before SQLMesh")
                    yield from super().execute(context, sqlmesh)
        """
        yield from sqlmesh.run(context)


class _ComponentTranslator(SQLMeshTranslator):
    """The default translator with the component's `translation` applied to every spec.

    The translation applies to models and external tables alike: its templates read `model`, the
    :class:`SQLMeshAssetProps` of either.
    """

    def __init__(
        self, component: SQLMeshProjectComponent, settings: SQLMeshTranslatorSettings
    ) -> None:
        super().__init__(settings)
        self.component = component

    def get_asset_spec(self, props: SQLMeshAssetProps) -> dg.AssetSpec:
        return self._translate(super().get_asset_spec(props), props)

    def get_external_asset_spec(self, props: SQLMeshAssetProps) -> dg.AssetSpec:
        return self._translate(super().get_external_asset_spec(props), props)

    def _translate(self, spec: dg.AssetSpec, props: SQLMeshAssetProps) -> dg.AssetSpec:
        translation = self.component.translation
        return spec if translation is None else translation(spec, props)


def _holds_current_manifest(path: Path, project: SQLMeshProject) -> bool:
    try:
        return is_current(read_manifest(path), project)
    except SQLMeshIntegrationError:
        return False
