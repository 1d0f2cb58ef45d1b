"""What a run reports: the selected models and checks (plain data; no SQLMesh import).

The resource builds these from the step's selection and the specs' metadata; the event console and
the runner use them to report only what was selected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg


@dataclass(frozen=True)
class CheckTarget:
    """A Dagster check that stands for one SQLMesh audit."""

    check_name: str
    audit_name: str
    blocking: bool


@dataclass(frozen=True)
class ModelTarget:
    """What a run reports for one SQLMesh node: a selected model, or a node that only audits.

    Attributes:
        model_name: The node's SQLMesh name (a model's fully qualified name, or a standalone
            audit's name).
        asset_key: The model's asset; for a node that only audits, the asset its checks are on.
        checks: The selected checks of the node.
        audit_count: Audits SQLMesh runs for the node, selected as checks or not.
        materialize: False for nodes that only audit (external tables with audits, standalone
            audits): their checks are reported, nothing is materialized.
        fetch_row_count: Count the model's rows after it ran, for `dagster/row_count`.
        materialization_metadata: Definition metadata every materialization repeats (the column
            lineage: Dagster reads it from the latest materialization).
        partitions_def: The asset's partitions (one per SQLMesh interval, `partitions.py`): the
            model is reported as one materialization per partition SQLMesh filled. None for an
            unpartitioned model, reported as one materialization.
    """

    model_name: str
    asset_key: dg.AssetKey
    checks: tuple[CheckTarget, ...] = ()
    audit_count: int = 0  # audits SQLMesh runs for the model, selected as checks or not
    materialize: bool = True
    fetch_row_count: bool = False
    materialization_metadata: Mapping[str, Any] = field(default_factory=dict)
    partitions_def: dg.TimeWindowPartitionsDefinition | None = None


def display_name(name: str) -> str:
    """A SQLMesh name as users write it: `"catalog"."schema"."table"` as `schema.table`.

    Example:
        >>> display_name('"db"."marts"."orders"')
        'marts.orders'
    """
    parts = [part.strip('"') for part in name.split(".")]
    return ".".join(parts[-2:])


@dataclass(frozen=True)
class Selection:
    """A step's selection, split the way SQLMesh runs it.

    Attributes:
        run: Nodes for one `sqlmesh run`: the selected models, and the audit-only nodes (external
            tables read by them, standalone audits whose check is selected).
        audit_only: Nodes whose checks are selected without their model (or in a step that
            materializes nothing): SQLMesh audits their filled intervals, nothing runs.
        expected_identifiers: The snapshot identifier each node has in the deployed code.
    """

    run: dict[str, ModelTarget]
    audit_only: dict[str, ModelTarget]
    expected_identifiers: dict[str, str]


def data_version_tags(data_version: str, code_version: str | None = None) -> dict[str, str]:
    """Dagster's version tags for a materialization logged as an event rather than an output.

    A step's outputs get them from Dagster; an `AssetMaterialization` logged with
    `context.log_event` (one per partition) carries them itself, so staleness works the same.
    """
    tags = {
        "dagster/data_version": data_version,
        "dagster/data_version_is_user_provided": "true",
    }
    if code_version:
        tags["dagster/code_version"] = code_version
    return tags


class ParentVersions:
    """Dagster's input provenance tags for the materializations a step logs as events.

    Dagster writes them on a step's outputs: each parent's data version and the storage id of its
    latest record, as the asset was built from them (a parent never materialized nor observed:
    `INITIAL` and `NULL`, Dagster's values). Without them the UI calls the asset, or each of its
    partitions, Unsynced ("has a new dependency") right after the run that built it. A parent's
    version is read once and kept until the step materializes that parent again (events reach
    the instance in the order the step yields them), so a run of many partitions stays cheap.

    Args:
        instance: The run's Dagster instance.
    """

    def __init__(self, instance: dg.DagsterInstance) -> None:
        self._instance = instance
        self._known: dict[dg.AssetKey, tuple[str, str]] = {}

    def tags(self, parents: Iterable[dg.AssetKey]) -> dict[str, str]:
        """The provenance tags of an asset built from `parents`, as they are now."""
        tags = {}
        for parent in parents:
            version = self._known.get(parent)
            if version is None:
                version = self._known[parent] = self._current_version(parent)
            name = parent.to_user_string()
            tags[f"dagster/input_data_version/{name}"] = version[0]
            tags[f"dagster/input_event_pointer/{name}"] = version[1]
        return tags

    def materialized(self, key: dg.AssetKey) -> None:
        """Forgets `key`'s version: the step just materialized it."""
        self._known.pop(key, None)

    def _current_version(self, key: dg.AssetKey) -> tuple[str, str]:
        record = self._instance.get_latest_data_version_record(key)
        if record is None:
            return "INITIAL", "NULL"
        version = (record.event_log_entry.tags or {}).get("dagster/data_version")
        return version or "INITIAL", str(record.storage_id)
