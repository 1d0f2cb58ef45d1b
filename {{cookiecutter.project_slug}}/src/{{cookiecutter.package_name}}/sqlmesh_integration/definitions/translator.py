"""Translating SQLMesh models and external tables into Dagster asset fields.

Subclass :class:`SQLMeshTranslator` and override one `get_<field>` method to change one field of
every asset; each method takes one :class:`SQLMeshAssetProps` (a model or an external table), and
each default lives in a pure function below so an override can call it and adjust the result.

Without code, a model can override some defaults with `dagster:` tags in its `MODEL (...)` block:

- `dagster:group=<name>`: the asset group (default: the model's schema);
- `dagster:key=<a/b/c>`: the asset key (default: `<schema>/<table>`);
- `dagster:automation=on_cron|eager`: a declarative automation condition (default: none; the
  due-driven sensor runs due models).

Example:
    >>> class PrefixedTranslator(SQLMeshTranslator):
    ...     def get_asset_key(self, props: SQLMeshAssetProps) -> dg.AssetKey:
    ...         return super().get_asset_key(props).with_prefix("warehouse")
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

from ..errors import InvalidInputError
from ..metadata import (
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
from .code_references import code_reference
from .freshness import cron_freshness_policy
from .manifest import Manifest, SQLMeshColumn, SQLMeshExternalTable, SQLMeshModel
from .partitions import partitions_definition

# Kinds that never get a freshness policy: seeds change only when a plan applies a new file,
# EMBEDDED models have no table.
_NO_FRESHNESS_KINDS = frozenset({"SEED", "EMBEDDED"})
# Kinds whose table is not counted after a run: a view holds no rows (counting would run its query).
_NO_ROW_COUNT_KINDS = frozenset({"VIEW", "EMBEDDED"})
# The default group of external tables.
EXTERNAL_GROUP_NAME = "sources"
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


@dataclass(frozen=True)
class SQLMeshAssetProps:
    """What every `get_<field>` method of the translator is given: one asset's SQLMesh node.

    The node is a model, or an external table (a table SQLMesh reads but does not build). The
    properties below read the same for both, so one translation serves both; they are also what
    the component's `translation` templates see as `model` (`{{ model.schema }}`).

    Attributes:
        node: The SQLMesh model or external table, as prepared in the manifest.
        manifest: The manifest it comes from (engine, repository).
        project_dir: The SQLMesh project folder (model files are relative to it).
    """

    node: SQLMeshModel | SQLMeshExternalTable
    manifest: Manifest
    project_dir: Path

    @property
    def model(self) -> SQLMeshModel | None:
        """The model, or None for an external table."""
        return self.node if isinstance(self.node, SQLMeshModel) else None

    @property
    def is_external(self) -> bool:
        """Whether the node is an external table (an external asset, never materialized here)."""
        return isinstance(self.node, SQLMeshExternalTable)

    @property
    def name(self) -> str:
        """SQLMesh's fully qualified name (`"catalog"."schema"."table"`)."""
        return self.node.name

    @property
    def catalog(self) -> str | None:
        """The catalog, when the engine has one."""
        return self.node.catalog

    @property
    def schema(self) -> str:
        """The schema."""
        return self.node.schema

    @property
    def table(self) -> str:
        """The table name."""
        return self.node.table

    @property
    def view_name(self) -> str:
        """`schema.table`, the name users query."""
        return f"{self.node.schema}.{self.node.table}"

    @property
    def kind(self) -> str:
        """The model kind (`FULL`, `VIEW`...); `EXTERNAL` for an external table."""
        return self.node.kind if isinstance(self.node, SQLMeshModel) else "EXTERNAL"

    @property
    def description(self) -> str | None:
        """The description of the model or external table."""
        return self.node.description

    @property
    def owner(self) -> str | None:
        """The model's owner; None for an external table."""
        return self.node.owner if isinstance(self.node, SQLMeshModel) else None

    @property
    def tags(self) -> tuple[str, ...]:
        """The model's SQLMesh tags; none for an external table."""
        return self.node.tags if isinstance(self.node, SQLMeshModel) else ()

    @property
    def columns(self) -> tuple[SQLMeshColumn, ...]:
        """The columns SQLMesh knows, with their descriptions."""
        return self.node.columns


class SQLMeshTranslator:
    """Maps a SQLMesh model or external table (as prepared in the manifest) to an `AssetSpec`.

    Every `get_<field>` method takes one :class:`SQLMeshAssetProps`; `get_asset_spec` assembles a
    model's spec from them, `get_external_asset_spec` an external table's.
    """

    def __init__(self, settings: SQLMeshTranslatorSettings | None = None) -> None:
        """Creates a translator with the given feature switches (all on by default)."""
        self.settings = settings or SQLMeshTranslatorSettings()

    def get_asset_key(self, props: SQLMeshAssetProps) -> dg.AssetKey:
        """The asset key; default `<schema>/<table>`, stable across gateways and catalogs."""
        override = self._tag_override(props, "key")
        if override:
            return dg.AssetKey([part for part in override.split("/") if part])
        return default_asset_key(props)

    def get_group_name(self, props: SQLMeshAssetProps) -> str | None:
        """The asset group; default the model's schema, `sources` for an external table."""
        return self._tag_override(props, "group") or default_group_name(props)

    def get_description(self, props: SQLMeshAssetProps) -> str | None:
        """The description; default the model's or external table's `description`."""
        return default_description(props)

    def get_owners(self, props: SQLMeshAssetProps) -> list[str]:
        """The owners; default the model's `owner` (an email, or a team name as `team:<owner>`)."""
        return default_owners(props)

    def get_tags(self, props: SQLMeshAssetProps) -> Mapping[str, str]:
        """Dagster tags; default one key-only tag per SQLMesh tag (`dagster:` tags excluded)."""
        return default_tags(props)

    def get_kinds(self, props: SQLMeshAssetProps) -> set[str]:
        """The kinds shown on the asset: `sqlmesh` and the engine (`duckdb`, `snowflake`…)."""
        return {"sqlmesh", props.manifest.engine}

    def get_metadata(self, props: SQLMeshAssetProps) -> dict[str, Any]:
        """Definition-time metadata: tables, schema, kind, cron, grain, time column, file.

        The code reference links the model file on GitHub in a Dagster+ deployment, the local
        file otherwise (see `code_references.py`). An external table gets its name and columns.
        """
        metadata = default_metadata(props)
        if self.settings.enable_column_schema and props.columns:
            metadata["dagster/column_schema"] = column_schema(props.columns)
        model = props.model
        if model is None:
            return metadata
        if self.settings.enable_code_references and model.file_path:
            metadata["dagster/code_references"] = code_reference(
                props.project_dir, model.file_path, props.manifest.repository
            )
        if self.settings.enable_row_count and model.kind not in _NO_ROW_COUNT_KINDS:
            metadata[METADATA_FETCH_ROW_COUNT] = True
        return metadata

    def get_code_version(self, props: SQLMeshAssetProps) -> str | None:
        """The code version: the snapshot version, which changes exactly when SQLMesh rebuilds."""
        if props.model is None:
            return None
        return props.model.snapshot_version or None

    def get_freshness_policy(self, props: SQLMeshAssetProps) -> dg.FreshnessPolicy | None:
        """Late when the latest interval is missing a grace period after the model's cron.

        None for external tables, seeds, EMBEDDED models, models with an `end`, and when
        `freshness_grace_period` is None.
        """
        grace_period = self.settings.freshness_grace_period
        if grace_period is None:
            return None
        return default_freshness_policy(props, grace_period)

    def get_automation_condition(
        self, props: SQLMeshAssetProps
    ) -> dg.AutomationCondition[Any] | None:
        """A declarative automation condition; none by default (the due sensor runs due models)."""
        choice = self._tag_override(props, "automation")
        if choice == "on_cron" and props.model:
            return dg.AutomationCondition.on_cron(dagster_cron(props.model.cron))
        if choice == "eager":
            return dg.AutomationCondition.eager()
        if choice:
            raise InvalidInputError(
                f"Model `{props.view_name}` has tag `dagster:automation={choice}`: "
                "use on_cron or eager."
            )
        return None

    def get_partitions_def(self, props: SQLMeshAssetProps) -> dg.PartitionsDefinition | None:
        """The partitions: one per SQLMesh interval for INCREMENTAL_BY_TIME_RANGE models.

        Return None to leave a model unpartitioned; a partitions definition other than a
        time window is refused when the model runs (see `partitions.py`). None for an external
        table.
        """
        return partitions_definition(props.model) if props.model else None

    def get_asset_spec(self, props: SQLMeshAssetProps) -> dg.AssetSpec:
        """A model's spec, assembled from the `get_<field>` methods (the spec builder adds deps)."""
        model = props.model
        if model is None:
            raise InvalidInputError(
                f"`{props.view_name}` is an external table: its spec comes from "
                "`get_external_asset_spec`."
            )
        fields = self._shared_fields(props)
        fields["metadata"][METADATA_SNAPSHOT_IDENTIFIER] = model.snapshot_identifier
        return dg.AssetSpec(
            **fields,
            code_version=self.get_code_version(props),
            freshness_policy=self.get_freshness_policy(props),
            automation_condition=self.get_automation_condition(props),
            # SQLMesh decides what is due: a model with nothing to do, or one that failed, yields no
            # materialization, and Dagster must not expect one.
            skippable=True,
        )

    def get_external_asset_spec(self, props: SQLMeshAssetProps) -> dg.AssetSpec:
        """The spec of a table SQLMesh reads but never builds, from the same `get_<field>` methods.

        The spec builder shows it as an external asset: never materialized here.
        """
        if not props.is_external:
            raise InvalidInputError(
                f"`{props.view_name}` is a SQLMesh model: its spec comes from `get_asset_spec`."
            )
        return dg.AssetSpec(**self._shared_fields(props))

    def _shared_fields(self, props: SQLMeshAssetProps) -> dict[str, Any]:
        """The spec fields of models and external tables alike."""
        return {
            "key": self.get_asset_key(props),
            "group_name": self.get_group_name(props),
            "description": self.get_description(props),
            "owners": self.get_owners(props),
            "tags": self.get_tags(props),
            "kinds": self.get_kinds(props),
            "metadata": {**self.get_metadata(props), METADATA_MODEL_NAME: props.name},
        }

    def _tag_override(self, props: SQLMeshAssetProps, name: str) -> str | None:
        if not self.settings.enable_tag_overrides:
            return None
        return tag_overrides(props).get(name)


def default_asset_key(props: SQLMeshAssetProps) -> dg.AssetKey:
    """`<schema>/<table>`, the default key of models and external tables."""
    return dg.AssetKey([props.schema, props.table])


def default_group_name(props: SQLMeshAssetProps) -> str:
    """The model's schema, made a valid group name; `sources` for an external table."""
    if props.is_external:
        return EXTERNAL_GROUP_NAME
    return re.sub(r"[^A-Za-z0-9_]", "_", props.schema)


def default_description(props: SQLMeshAssetProps) -> str | None:
    """The description; an external table without one is described as such."""
    if props.is_external:
        return (
            props.description
            or f"`{props.view_name}`: read by SQLMesh models, built outside SQLMesh."
        )
    return props.description


def default_owners(props: SQLMeshAssetProps) -> list[str]:
    """The model's owner as a Dagster owner (email, or `team:<name>`)."""
    if not props.owner:
        return []
    owner = props.owner.strip()
    if "@" in owner:
        return [owner]
    return [f"team:{re.sub(r'[^A-Za-z0-9_-]', '_', owner)}"]


def default_tags(props: SQLMeshAssetProps) -> dict[str, str]:
    """One key-only Dagster tag per SQLMesh tag (`dagster:` override tags are not copied)."""
    tags = {}
    for tag in props.tags:
        if tag.startswith(TAG_OVERRIDE_PREFIX):
            continue
        key = _TAG_KEY_UNSAFE.sub("_", tag)[:63]
        if key:
            tags[key] = ""
    return tags


def default_metadata(props: SQLMeshAssetProps) -> dict[str, Any]:
    """Definition-time metadata that needs no Dagster objects (an external table: its name)."""
    metadata: dict[str, Any] = {"dagster/table_name": props.view_name}
    model = props.model
    if model is None:
        return metadata
    metadata.update(
        {METADATA_KIND: model.kind, METADATA_CRON: model.cron, METADATA_DIALECT: model.dialect}
    )
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
    props: SQLMeshAssetProps, grace_period: timedelta
) -> dg.FreshnessPolicy | None:
    """The freshness policy from the model's cron, interval unit and `cron_tz`."""
    model = props.model
    if model is None or model.kind in _NO_FRESHNESS_KINDS or model.end:
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


def tag_overrides(props: SQLMeshAssetProps) -> dict[str, str]:
    """The `dagster:<name>=<value>` tags of a model, as a mapping."""
    overrides = {}
    for tag in props.tags:
        if tag.startswith(TAG_OVERRIDE_PREFIX) and "=" in tag:
            name, _, value = tag[len(TAG_OVERRIDE_PREFIX) :].partition("=")
            overrides[name.strip()] = value.strip()
    return overrides


def dagster_cron(cron: str) -> str:
    """A SQLMesh cron (which may be an alias such as `@daily`) as a five-field cron string."""
    return _CRON_ALIASES.get(cron.strip().lower(), cron)
