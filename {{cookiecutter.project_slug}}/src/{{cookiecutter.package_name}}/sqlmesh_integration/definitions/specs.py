"""The one place that builds Dagster specs from a manifest: assets, checks, external assets.

The `@sqlmesh_assets` decorator and any other entry point (tests, a component) share this builder,
so the asset graph is defined in exactly one way.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from ..errors import InvalidInputError, UnmappedNodeError
from ..metadata import (
    METADATA_AUDIT_ARGUMENT_PREFIX,
    METADATA_AUDIT_BLOCKING,
    METADATA_AUDIT_COUNT,
    METADATA_AUDIT_NAME,
    METADATA_AUDITED_NODE,
    METADATA_FILE_PATH,
    METADATA_INLINED_INTO,
    METADATA_MODEL_NAME,
    METADATA_PHYSICAL_TABLE,
    METADATA_SNAPSHOT_IDENTIFIER,
    NODE_EXTERNAL,
    NODE_MODEL,
    NODE_STANDALONE,
)
from .manifest import (
    Manifest,
    SQLMeshAudit,
    SQLMeshExternalTable,
    SQLMeshModel,
    SQLMeshStandaloneAudit,
)
from .translator import SQLMeshAssetProps, SQLMeshTranslator


@dataclass(frozen=True)
class SQLMeshSpecs:
    """Everything the asset graph needs.

    Attributes:
        assets: One spec per SQLMesh model that has a table, in topological order.
        checks: One check spec per audit that SQLMesh runs (blocking audits are blocking checks):
            audits of models, audits of external tables (on the external asset) and standalone
            audits.
        external_assets: Tables SQLMesh reads but never builds; this integration never materializes
            them.
        inlined_assets: EMBEDDED models: no table, SQLMesh inlines their query into the models
            that read them, so they are shown but never materialized (non-executable specs).
    """

    assets: list[dg.AssetSpec]
    checks: list[dg.AssetCheckSpec]
    external_assets: list[dg.AssetSpec]
    inlined_assets: list[dg.AssetSpec] = field(default_factory=list)


def build_specs(
    manifest: Manifest, translator: SQLMeshTranslator, project_dir: Path
) -> SQLMeshSpecs:
    """Builds the asset, check and external specs of a manifest."""
    # Keys come from the assembled specs, so a translation that changes the key moves the deps too.
    model_specs = {
        model.name: translator.get_asset_spec(SQLMeshAssetProps(model, manifest, project_dir))
        for model in manifest.models
    }
    external_assets = [
        translator.get_external_asset_spec(SQLMeshAssetProps(table, manifest, project_dir))
        for table in manifest.external_tables
    ]
    model_keys = {name: spec.key for name, spec in model_specs.items()}
    external_keys = {
        table.name: spec.key
        for table, spec in zip(manifest.external_tables, external_assets, strict=True)
    }
    # Models read but defined elsewhere (another project, or left out by `select`): their keys,
    # computed as the component that defines them computes them, are dependencies only.
    upstream_keys = {
        model.name: translator.get_asset_spec(SQLMeshAssetProps(model, manifest, project_dir)).key
        for model in manifest.upstream_models
    }
    _refuse_duplicate_keys({**model_keys, **external_keys, **upstream_keys})

    assets = []
    inlined_assets = []
    checks = []
    known_keys = {**upstream_keys, **model_keys, **external_keys}
    for model in manifest.models:
        spec = model_specs[model.name]
        lineage = (
            column_lineage(model, known_keys) if translator.settings.enable_column_lineage else None
        )
        if lineage is not None:
            spec = spec.merge_attributes(metadata={"dagster/column_lineage": lineage})
        deps = [known_keys[upstream] for upstream in model.depends_on if upstream in known_keys]
        if model.is_embedded:
            inlined_assets.append(inlined_spec(model, spec, deps, manifest))
            continue
        assets.append(
            spec.replace_attributes(
                deps=deps,
                metadata={**spec.metadata, METADATA_AUDIT_COUNT: len(model.audits)},
                partitions_def=translator.get_partitions_def(
                    SQLMeshAssetProps(model, manifest, project_dir)
                ),
            )
        )
        checks.extend(check_specs(model, spec.key))
    for table in manifest.external_tables:
        checks.extend(external_check_specs(table, external_keys[table.name]))
    materialized = [model.name for model in manifest.models if not model.is_embedded]
    for audit in manifest.standalone_audits:
        checks.append(
            standalone_check_spec(audit, materialized, model_keys, external_keys, upstream_keys)
        )
    _refuse_duplicate_checks(checks)
    return SQLMeshSpecs(
        assets=assets, checks=checks, external_assets=external_assets, inlined_assets=inlined_assets
    )


def column_lineage(
    model: SQLMeshModel, keys: Mapping[str, dg.AssetKey]
) -> dg.TableColumnLineage | None:
    """The model's traced columns with their upstream columns, as Dagster column lineage.

    Upstream models and external tables are named by their asset keys (`keys`: SQLMesh name to
    key, so a translator's keys are used); a table outside the project is left out. None when no
    column was traced.
    """
    deps_by_column = {
        column: [
            dg.TableColumnDep(asset_key=keys[upstream], column_name=name)
            for upstream, name in sources
            if upstream in keys
        ]
        for column, sources in model.column_lineage.items()
    }
    deps_by_column = {column: deps for column, deps in deps_by_column.items() if deps}
    return dg.TableColumnLineage(deps_by_column=deps_by_column) if deps_by_column else None


def inlined_spec(
    model: SQLMeshModel, spec: dg.AssetSpec, deps: list[dg.AssetKey], manifest: Manifest
) -> dg.AssetSpec:
    """The non-executable spec of an EMBEDDED model: shown in the graph, never materialized."""
    readers = sorted(other.view_name for other in manifest.models if model.name in other.depends_on)
    metadata = {
        key: value
        for key, value in spec.metadata.items()
        if key not in ("dagster/table_name", METADATA_PHYSICAL_TABLE)
    }
    metadata[METADATA_INLINED_INTO] = ", ".join(readers) or "no model"
    description = (
        f"EMBEDDED SQLMesh model: it has no table; SQLMesh inlines its query into "
        f"{', '.join(readers) or 'the models that read it'}, which materialize with it."
    )
    return dg.AssetSpec(
        key=spec.key,
        deps=deps,
        description=f"{spec.description}\n\n{description}" if spec.description else description,
        group_name=spec.group_name,
        owners=spec.owners,
        tags=spec.tags,
        kinds=spec.kinds,
        metadata=metadata,
    )


def external_check_specs(
    table: SQLMeshExternalTable, asset_key: dg.AssetKey
) -> list[dg.AssetCheckSpec]:
    """One check per audit of an external table, on its external asset.

    SQLMesh runs these audits as a node of their own (the external model) in `sqlmesh run`.
    """
    return audit_check_specs(
        table.name,
        table.audits,
        asset_key,
        NODE_EXTERNAL,
        {METADATA_SNAPSHOT_IDENTIFIER: table.snapshot_identifier},
    )


def standalone_check_spec(
    audit: SQLMeshStandaloneAudit,
    model_names: list[str],
    model_keys: dict[str, dg.AssetKey],
    external_keys: dict[str, dg.AssetKey],
    upstream_keys: Mapping[str, dg.AssetKey] | None = None,
) -> dg.AssetCheckSpec:
    """The check of a standalone audit.

    It is attached to the node the audit checks when SQLMesh says which (`audit.subject`: a dbt
    test's model, so a `relationships` test sits on the model holding the foreign key), else to
    the most downstream model the audit reads (so it runs, and Dagster shows it, after all of
    them), or to an external table when it reads only external tables; the other tables it reads,
    models of another project included (`upstream_keys`), are its additional dependencies.
    """
    order = {name: index for index, name in enumerate(model_names)}
    read_models = sorted(
        (name for name in audit.depends_on if name in order), key=lambda name: order[name]
    )
    read_external = [name for name in audit.depends_on if name in external_keys]
    if audit.subject in order:
        target = model_keys[audit.subject]
    elif audit.subject in external_keys:
        target = external_keys[audit.subject]
    elif read_models:
        target = model_keys[read_models[-1]]
    elif read_external:
        target = external_keys[read_external[0]]
    else:
        raise InvalidInputError(
            f"Standalone audit `{audit.name}` reads no model or external table: make its query "
            "read a table SQLMesh knows (a model or an entry of external_models.yaml)."
        )
    known = {**(upstream_keys or {}), **model_keys, **external_keys}
    others = [known[name] for name in audit.depends_on if name in known and known[name] != target]
    blocking = "blocking" if audit.blocking else "non-blocking"
    return dg.AssetCheckSpec(
        name=_check_name(audit.name),
        asset=target,
        additional_deps=others,
        description=audit.description
        or f"SQLMesh standalone audit `{audit.name}` ({blocking}), run on its own cron.",
        blocking=audit.blocking,
        metadata={
            **_audit_metadata(
                audit.name,
                SQLMeshAudit(name=audit.name, blocking=audit.blocking),
                NODE_STANDALONE,
            ),
            METADATA_SNAPSHOT_IDENTIFIER: audit.snapshot_identifier,
            **({METADATA_FILE_PATH: audit.file_path} if audit.file_path else {}),
        },
    )


def _audit_metadata(node_name: str, audit: SQLMeshAudit, node: str) -> dict[str, object]:
    return {
        METADATA_MODEL_NAME: node_name,
        METADATA_AUDITED_NODE: node,
        METADATA_AUDIT_NAME: audit.name,
        METADATA_AUDIT_BLOCKING: audit.blocking,
        **{
            f"{METADATA_AUDIT_ARGUMENT_PREFIX}{key}": value
            for key, value in audit.arguments.items()
        },
    }


def _check_name(audit_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", audit_name)


def check_specs(model: SQLMeshModel, asset_key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """One check spec per audit of the model; names are the audit names (numbered when repeated)."""
    return audit_check_specs(model.name, model.audits, asset_key, NODE_MODEL)


def audit_check_specs(
    node_name: str,
    audits: tuple[SQLMeshAudit, ...],
    asset_key: dg.AssetKey,
    node_kind: str,
    metadata: dict[str, object] | None = None,
) -> list[dg.AssetCheckSpec]:
    """One check spec per audit of a SQLMesh node (a model or an external model)."""
    return [
        dg.AssetCheckSpec(
            name=name,
            asset=asset_key,
            description=audit_description(audit),
            blocking=audit.blocking,
            metadata={**_audit_metadata(node_name, audit, node_kind), **(metadata or {})},
        )
        for name, audit in check_names(audits)
    ]


def check_names(audits: tuple[SQLMeshAudit, ...]) -> list[tuple[str, SQLMeshAudit]]:
    """Pairs each audit with a unique check name (`not_null`, or `not_null_1`, `_2` if repeated)."""
    totals = Counter(audit.name for audit in audits)
    seen: Counter[str] = Counter()
    named = []
    for audit in audits:
        seen[audit.name] += 1
        base = _check_name(audit.name)
        named.append((base if totals[audit.name] == 1 else f"{base}_{seen[audit.name]}", audit))
    return named


def audit_description(audit: SQLMeshAudit) -> str:
    """A one-line description of an audit and its arguments."""
    arguments = ", ".join(f"{key} := {value}" for key, value in audit.arguments.items())
    kind = "blocking" if audit.blocking else "non-blocking"
    return f"SQLMesh audit `{audit.name}({arguments})` ({kind})."


def _refuse_duplicate_checks(checks: list[dg.AssetCheckSpec]) -> None:
    """Each audit is one check: two audits whose checks share a key would lose one of them."""
    owners: dict[dg.AssetCheckKey, dg.AssetCheckSpec] = {}
    for check in checks:
        other = owners.setdefault(check.key, check)
        if other is not check:
            raise UnmappedNodeError(
                "audit",
                f"{check.metadata[METADATA_AUDIT_NAME]}` of `{check.metadata[METADATA_MODEL_NAME]}",
                f"its check `{check.name}` on {check.asset_key.to_user_string()} would be the "
                f"same check as audit `{other.metadata[METADATA_AUDIT_NAME]}` of "
                f"`{other.metadata[METADATA_MODEL_NAME]}`",
                "rename one of the two audits",
            )


def _refuse_duplicate_keys(keys: dict[str, dg.AssetKey]) -> None:
    owners: dict[dg.AssetKey, str] = {}
    for name, key in keys.items():
        if key in owners:
            raise InvalidInputError(
                f"SQLMesh models `{owners[key]}` and `{name}` both map to asset key "
                f"{key.to_user_string()}: give one a `dagster:key=...` tag or override "
                "`get_asset_key` in your translator."
            )
        owners[key] = name
