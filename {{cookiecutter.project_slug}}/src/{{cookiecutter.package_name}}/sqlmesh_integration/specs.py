"""The one place that builds Dagster specs from a manifest: assets, checks, external assets.

The `@sqlmesh_assets` decorator and any other entry point (tests, a component) share this builder,
so the asset graph is defined in exactly one way.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from .manifest import Manifest, SQLMeshAudit, SQLMeshModel
from .translator import METADATA_MODEL_NAME, SQLMeshTranslator, column_schema

METADATA_AUDIT_NAME = "sqlmesh/audit_name"
METADATA_AUDIT_BLOCKING = "sqlmesh/audit_blocking"
METADATA_AUDIT_COUNT = "sqlmesh/audit_count"


@dataclass(frozen=True)
class SQLMeshSpecs:
    """Everything the asset graph needs.

    Attributes:
        assets: One spec per SQLMesh model, in topological order.
        checks: One check spec per audit that SQLMesh runs (blocking audits are blocking checks).
        external_assets: Tables SQLMesh reads but never builds; this integration never materializes
            them.
    """

    assets: list[dg.AssetSpec]
    checks: list[dg.AssetCheckSpec]
    external_assets: list[dg.AssetSpec]


def build_specs(
    manifest: Manifest, translator: SQLMeshTranslator, project_dir: Path
) -> SQLMeshSpecs:
    """Builds the asset, check and external specs of a manifest."""
    model_keys = {model.name: translator.get_asset_key(model) for model in manifest.models}
    external_keys = {
        table.name: translator.get_external_asset_key(table) for table in manifest.external_tables
    }
    _refuse_duplicate_keys({**model_keys, **external_keys})

    assets = []
    checks = []
    for model in manifest.models:
        spec = translator.get_asset_spec(model, manifest, project_dir)
        deps = [
            model_keys.get(upstream) or external_keys[upstream]
            for upstream in model.depends_on
            if upstream in model_keys or upstream in external_keys
        ]
        assets.append(
            spec.replace_attributes(
                deps=deps, metadata={**spec.metadata, METADATA_AUDIT_COUNT: len(model.audits)}
            )
        )
        checks.extend(check_specs(model, spec.key))

    external_assets = [
        dg.AssetSpec(
            key=external_keys[table.name],
            description=table.description
            or f"`{table.schema}.{table.table}`: read by SQLMesh models, built outside SQLMesh.",
            group_name="sources",
            kinds={"sqlmesh", manifest.engine},
            metadata={
                METADATA_MODEL_NAME: table.name,
                "dagster/table_name": f"{table.schema}.{table.table}",
                **(
                    {"dagster/column_schema": column_schema(table.columns)} if table.columns else {}
                ),
            },
        )
        for table in manifest.external_tables
    ]
    return SQLMeshSpecs(assets=assets, checks=checks, external_assets=external_assets)


def check_specs(model: SQLMeshModel, asset_key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """One check spec per audit of the model; names are the audit names (numbered when repeated)."""
    return [
        dg.AssetCheckSpec(
            name=name,
            asset=asset_key,
            description=audit_description(audit),
            blocking=audit.blocking,
            metadata={
                METADATA_MODEL_NAME: model.name,
                METADATA_AUDIT_NAME: audit.name,
                METADATA_AUDIT_BLOCKING: audit.blocking,
                **{
                    f"sqlmesh/audit_argument/{key}": value for key, value in audit.arguments.items()
                },
            },
        )
        for name, audit in check_names(model.audits)
    ]


def check_names(audits: tuple[SQLMeshAudit, ...]) -> list[tuple[str, SQLMeshAudit]]:
    """Pairs each audit with a unique check name (`not_null`, or `not_null_1`, `_2` if repeated)."""
    totals = Counter(audit.name for audit in audits)
    seen: Counter[str] = Counter()
    named = []
    for audit in audits:
        seen[audit.name] += 1
        base = re.sub(r"[^A-Za-z0-9_]", "_", audit.name)
        named.append((base if totals[audit.name] == 1 else f"{base}_{seen[audit.name]}", audit))
    return named


def audit_description(audit: SQLMeshAudit) -> str:
    """A one-line description of an audit and its arguments."""
    arguments = ", ".join(f"{key} := {value}" for key, value in audit.arguments.items())
    kind = "blocking" if audit.blocking else "non-blocking"
    return f"SQLMesh audit `{audit.name}({arguments})` ({kind})."


def _refuse_duplicate_keys(keys: dict[str, dg.AssetKey]) -> None:
    owners: dict[dg.AssetKey, str] = {}
    for name, key in keys.items():
        if key in owners:
            raise ValueError(
                f"SQLMesh models `{owners[key]}` and `{name}` both map to asset key "
                f"{key.to_user_string()}: give one a `dagster:key=...` tag or override "
                "`get_asset_key` in your translator."
            )
        owners[key] = name
