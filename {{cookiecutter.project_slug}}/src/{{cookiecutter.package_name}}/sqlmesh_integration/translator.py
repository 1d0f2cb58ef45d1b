"""Translating SQLMesh models into Dagster asset fields.

Subclass :class:`SQLMeshTranslator` and override one `get_<field>` method to change one field of
every asset; each default lives in a pure function below so an override can call it and adjust the
result.

Without code, a model can override some defaults with `dagster:` tags in its `MODEL (...)` block:

- `dagster:group=<name>`: the asset group (default: the model's schema);
- `dagster:key=<a/b/c>`: the asset key (default: `<schema>/<table>`);
- `dagster:automation=on_cron|eager`: a declarative automation condition (default: none; the
  due-driven sensor runs due models).

Example:
    >>> class PrefixedTranslator(SQLMeshTranslator):
    ...     def get_asset_key(self, model: SQLMeshModel) -> dg.AssetKey:
    ...         return super().get_asset_key(model).with_prefix("warehouse")
"""

# No `from __future__ import annotations`: the settings dataclass is `Resolvable` (the component's
# `translation_settings` block), and Dagster reads its fields' annotations as types.

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import dagster as dg

from .code_references import code_reference
from .errors import InvalidInputError
from .freshness import cron_freshness_policy
from .manifest import Manifest, SQLMeshExternalTable, SQLMeshModel
from .metadata import (
    METADATA_CRON,
    METADATA_DIALECT,
    METADATA_FETCH_ROW_COUNT,
    METADATA_FILE_PATH,
    METADATA_GRAIN,
    METADATA_KIND,
    METADATA_MODEL_NAME,
    METADATA_PHYSICAL_TABLE,
    METADATA_SNAPSHOT_IDENTIFIER,
    METADATA_START,
    METADATA_TIME_COLUMN,
)
from .partitions import partitions_definition

# Kinds that never get a freshness policy: seeds change only when a plan applies a new file,
# EMBEDDED models have no table.
_NO_FRESHNESS_KINDS = frozenset({"SEED", "EMBEDDED", "EXTERNAL"})
# Kinds whose table is not counted after a run: a view holds no rows (counting would run its query).
_NO_ROW_COUNT_KINDS = frozenset({"VIEW", "EMBEDDED", "EXTERNAL"})
TAG_OVERRIDE_PREFIX = "dagster:"
_TAG_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_CRON_ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


@dataclass(frozen=True)
class SQLMeshTranslatorSettings(dg.Resolvable):
    """Feature switches of the default translator.

    Attributes:
        enable_tag_overrides: Read `dagster:` model tags (see the module docstring).
        enable_code_references: Link each asset to its model file in the Dagster UI.
        enable_column_schema: Attach the column schema (names, types, descriptions).
        enable_column_lineage: Attach the column lineage SQLMesh traced when the manifest was
            prepared (`dagster/column_lineage`; the component's `include_metadata`).
        enable_row_count: Count each materialized model's rows after its run
            (`dagster/row_count`; one `COUNT(*)` per model, views excluded; the component's
            `include_metadata`).
        freshness_grace_period: How long after its cron a model's latest interval may be missing
            before Dagster shows the model late (a freshness policy per model, see
            `freshness.py`); None for no freshness policies.
    """

    enable_tag_overrides: bool = True
    enable_code_references: bool = True
    enable_column_schema: bool = True
    enable_column_lineage: bool = True
    enable_row_count: bool = True
    freshness_grace_period: Annotated[
        timedelta | None,
        dg.Resolver(
            lambda _, minutes: None if minutes is None else timedelta(minutes=minutes),
            model_field_type=int | None,
            description="Minutes after its cron before a model shows late; null for no policy.",
        ),
    ] = timedelta(hours=1)


class SQLMeshTranslator:
    """Maps a SQLMesh model (as prepared in the manifest) to the fields of a Dagster `AssetSpec`."""

    def __init__(self, settings: SQLMeshTranslatorSettings | None = None) -> None:
        """Creates a translator with the given feature switches (all on by default)."""
        self.settings = settings or SQLMeshTranslatorSettings()

    def get_asset_key(self, model: SQLMeshModel) -> dg.AssetKey:
        """The asset key; default `<schema>/<table>`, stable across gateways and catalogs."""
        override = self._tag_override(model, "key")
        if override:
            return dg.AssetKey([part for part in override.split("/") if part])
        return default_asset_key(model.schema, model.table)

    def get_external_asset_key(self, table: SQLMeshExternalTable) -> dg.AssetKey:
        """The key of a table SQLMesh reads but does not build; default `<schema>/<table>`."""
        return default_asset_key(table.schema, table.table)

    def get_external_asset_spec(
        self, table: SQLMeshExternalTable, manifest: Manifest
    ) -> dg.AssetSpec:
        """The external asset of a table SQLMesh reads but never builds (group `sources`)."""
        view_name = f"{table.schema}.{table.table}"
        metadata: dict[str, Any] = {
            METADATA_MODEL_NAME: table.name,
            "dagster/table_name": view_name,
        }
        if self.settings.enable_column_schema and table.columns:
            metadata["dagster/column_schema"] = column_schema(table.columns)
        return dg.AssetSpec(
            key=self.get_external_asset_key(table),
            description=table.description
            or f"`{view_name}`: read by SQLMesh models, built outside SQLMesh.",
            group_name="sources",
            kinds={"sqlmesh", manifest.engine},
            metadata=metadata,
        )

    def get_group_name(self, model: SQLMeshModel) -> str | None:
        """The asset group; default the model's schema."""
        return self._tag_override(model, "group") or default_group_name(model)

    def get_description(self, model: SQLMeshModel) -> str | None:
        """The description; default the model's `description`."""
        return default_description(model)

    def get_owners(self, model: SQLMeshModel) -> list[str]:
        """The owners; default the model's `owner` (an email, or a team name as `team:<owner>`)."""
        return default_owners(model)

    def get_tags(self, model: SQLMeshModel) -> Mapping[str, str]:
        """Dagster tags; default one key-only tag per SQLMesh tag (`dagster:` tags excluded)."""
        return default_tags(model)

    def get_kinds(self, model: SQLMeshModel, engine: str) -> set[str]:
        """The kinds shown on the asset: `sqlmesh` and the engine (`duckdb`, `snowflake`…)."""
        return {"sqlmesh", engine}

    def get_metadata(
        self, model: SQLMeshModel, manifest: Manifest, project_dir: Path
    ) -> dict[str, Any]:
        """Definition-time metadata: tables, schema, kind, cron, grain, time column, file.

        The code reference links the model file on GitHub in a Dagster+ deployment, the local
        file otherwise (see `code_references.py`).
        """
        metadata = default_metadata(model)
        if self.settings.enable_column_schema and model.columns:
            metadata["dagster/column_schema"] = column_schema(model.columns)
        if self.settings.enable_code_references and model.file_path:
            metadata["dagster/code_references"] = code_reference(
                project_dir, model.file_path, manifest.repository
            )
        if self.settings.enable_row_count and model.kind not in _NO_ROW_COUNT_KINDS:
            metadata[METADATA_FETCH_ROW_COUNT] = True
        return metadata

    def get_code_version(self, model: SQLMeshModel) -> str | None:
        """The code version: the snapshot version, which changes exactly when SQLMesh rebuilds."""
        return model.snapshot_version or None

    def get_freshness_policy(self, model: SQLMeshModel) -> dg.FreshnessPolicy | None:
        """Late when the latest interval is missing a grace period after the model's cron.

        None for seeds, EMBEDDED models, models with an `end`, and when
        `freshness_grace_period` is None.
        """
        grace_period = self.settings.freshness_grace_period
        if grace_period is None:
            return None
        return default_freshness_policy(model, grace_period)

    def get_automation_condition(self, model: SQLMeshModel) -> dg.AutomationCondition[Any] | None:
        """A declarative automation condition; none by default (the due sensor runs due models)."""
        choice = self._tag_override(model, "automation")
        if choice == "on_cron":
            return dg.AutomationCondition.on_cron(dagster_cron(model.cron))
        if choice == "eager":
            return dg.AutomationCondition.eager()
        if choice:
            raise InvalidInputError(
                f"Model `{model.view_name}` has tag `dagster:automation={choice}`: "
                "use on_cron or eager."
            )
        return None

    def get_partitions_def(self, model: SQLMeshModel) -> dg.PartitionsDefinition | None:
        """The partitions: one per SQLMesh interval for INCREMENTAL_BY_TIME_RANGE models.

        Return None to leave a model unpartitioned; a partitions definition other than a
        time window is refused when the model runs (see `partitions.py`).
        """
        return partitions_definition(model)

    def get_asset_spec(
        self, model: SQLMeshModel, manifest: Manifest, project_dir: Path
    ) -> dg.AssetSpec:
        """Assembles the spec from the `get_<field>` methods (the spec builder adds deps)."""
        return dg.AssetSpec(
            key=self.get_asset_key(model),
            group_name=self.get_group_name(model),
            description=self.get_description(model),
            owners=self.get_owners(model),
            tags=self.get_tags(model),
            kinds=self.get_kinds(model, manifest.engine),
            metadata={
                **self.get_metadata(model, manifest, project_dir),
                METADATA_MODEL_NAME: model.name,
                METADATA_SNAPSHOT_IDENTIFIER: model.snapshot_identifier,
            },
            code_version=self.get_code_version(model),
            freshness_policy=self.get_freshness_policy(model),
            automation_condition=self.get_automation_condition(model),
            # SQLMesh decides what is due: a model with nothing to do, or one that failed, yields no
            # materialization, and Dagster must not expect one.
            skippable=True,
        )

    def _tag_override(self, model: SQLMeshModel, name: str) -> str | None:
        if not self.settings.enable_tag_overrides:
            return None
        return tag_overrides(model).get(name)


def default_asset_key(schema: str, table: str) -> dg.AssetKey:
    """`<schema>/<table>`, the default key of models and external tables."""
    return dg.AssetKey([schema, table])


def default_group_name(model: SQLMeshModel) -> str:
    """The model's schema, made a valid group name."""
    return re.sub(r"[^A-Za-z0-9_]", "_", model.schema)


def default_description(model: SQLMeshModel) -> str | None:
    """The model's description."""
    return model.description


def default_owners(model: SQLMeshModel) -> list[str]:
    """The model's owner as a Dagster owner (email, or `team:<name>`)."""
    if not model.owner:
        return []
    owner = model.owner.strip()
    if "@" in owner:
        return [owner]
    return [f"team:{re.sub(r'[^A-Za-z0-9_-]', '_', owner)}"]


def default_tags(model: SQLMeshModel) -> dict[str, str]:
    """One key-only Dagster tag per SQLMesh tag (`dagster:` override tags are not copied)."""
    tags = {}
    for tag in model.tags:
        if tag.startswith(TAG_OVERRIDE_PREFIX):
            continue
        key = _TAG_KEY_UNSAFE.sub("_", tag)[:63]
        if key:
            tags[key] = ""
    return tags


def default_metadata(model: SQLMeshModel) -> dict[str, Any]:
    """Definition-time metadata that needs no Dagster objects."""
    metadata: dict[str, Any] = {
        "dagster/table_name": model.view_name,
        METADATA_KIND: model.kind,
        METADATA_CRON: model.cron,
        METADATA_DIALECT: model.dialect,
    }
    optional = {
        METADATA_PHYSICAL_TABLE: model.physical_table,
        METADATA_GRAIN: ", ".join(model.grains) if model.grains else None,
        METADATA_TIME_COLUMN: model.time_column,
        METADATA_FILE_PATH: model.file_path,
        METADATA_START: model.start,
    }
    metadata.update({key: value for key, value in optional.items() if value})
    return metadata


def default_freshness_policy(
    model: SQLMeshModel, grace_period: timedelta
) -> dg.FreshnessPolicy | None:
    """The freshness policy from the model's cron, interval unit and `cron_tz`."""
    if model.kind in _NO_FRESHNESS_KINDS or model.end:
        return None  # no new intervals to be late for
    return cron_freshness_policy(
        dagster_cron(model.cron), model.interval_unit, grace_period, model.cron_tz
    )


def column_schema(columns: tuple[Any, ...]) -> dg.TableSchema:
    """Dagster's table schema from the model's columns and their descriptions."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=column.name, type=column.type, description=column.description)
            for column in columns
        ]
    )


def tag_overrides(model: SQLMeshModel) -> dict[str, str]:
    """The `dagster:<name>=<value>` tags of a model, as a mapping."""
    overrides = {}
    for tag in model.tags:
        if tag.startswith(TAG_OVERRIDE_PREFIX) and "=" in tag:
            name, _, value = tag[len(TAG_OVERRIDE_PREFIX) :].partition("=")
            overrides[name.strip()] = value.strip()
    return overrides


def dagster_cron(cron: str) -> str:
    """A SQLMesh cron (which may be an alias such as `@daily`) as a five-field cron string."""
    return _CRON_ALIASES.get(cron.strip().lower(), cron)
