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

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from .manifest import Manifest, SQLMeshExternalTable, SQLMeshModel
from .partitions import partitions_definition

METADATA_MODEL_NAME = "sqlmesh/model_name"
METADATA_SNAPSHOT_IDENTIFIER = "sqlmesh/snapshot_identifier"
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
class SQLMeshTranslatorSettings:
    """Feature switches of the default translator.

    Attributes:
        enable_tag_overrides: Read `dagster:` model tags (see the module docstring).
        enable_code_references: Link each asset to its model file in the Dagster UI.
        enable_column_schema: Attach the column schema (names, types, descriptions).
    """

    enable_tag_overrides: bool = True
    enable_code_references: bool = True
    enable_column_schema: bool = True


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
        """Definition-time metadata: tables, schema, kind, cron, grain, time column, file."""
        metadata = default_metadata(model)
        if self.settings.enable_column_schema and model.columns:
            metadata["dagster/column_schema"] = column_schema(model.columns)
        if self.settings.enable_code_references and model.file_path:
            metadata["dagster/code_references"] = code_reference(project_dir / model.file_path)
        return metadata

    def get_code_version(self, model: SQLMeshModel) -> str | None:
        """The code version: the snapshot version, which changes exactly when SQLMesh rebuilds."""
        return model.snapshot_version or None

    def get_automation_condition(self, model: SQLMeshModel) -> dg.AutomationCondition[Any] | None:
        """A declarative automation condition; none by default (the due sensor runs due models)."""
        choice = self._tag_override(model, "automation")
        if choice == "on_cron":
            return dg.AutomationCondition.on_cron(dagster_cron(model.cron))
        if choice == "eager":
            return dg.AutomationCondition.eager()
        if choice:
            raise ValueError(
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
        "sqlmesh/kind": model.kind,
        "sqlmesh/cron": model.cron,
        "sqlmesh/dialect": model.dialect,
    }
    optional = {
        "sqlmesh/physical_table": model.physical_table,
        "sqlmesh/grain": ", ".join(model.grains) if model.grains else None,
        "sqlmesh/time_column": model.time_column,
        "sqlmesh/file_path": model.file_path,
        "sqlmesh/start": model.start,
    }
    metadata.update({key: value for key, value in optional.items() if value})
    return metadata


def column_schema(columns: tuple[Any, ...]) -> dg.TableSchema:
    """Dagster's table schema from the model's columns and their descriptions."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=column.name, type=column.type, description=column.description)
            for column in columns
        ]
    )


def code_reference(path: Path) -> dg.CodeReferencesMetadataValue:
    """A link from the asset to its model file (shown as "SQLMesh model" in the UI)."""
    with warnings.catch_warnings():
        # Code references are a beta API: one warning per asset would flood every load's output.
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.CodeReferencesMetadataValue(
            code_references=[dg.LocalFileCodeReference(file_path=str(path), label="SQLMesh model")]
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
