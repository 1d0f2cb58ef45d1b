"""What a run writes to Dagster's event storage, written cheaply (no SQLMesh import).

A long history costs Dagster one stored event per partition: a five-year daily backfill of four
models is about 7,300 materializations. Dagster's event storage can write many events in one call
(`EventLogStorage.store_event_batch`: one insert statement on Postgres, one API request from a
Dagster+ run worker), but only for events that carry batch metadata, which Dagster gives the step
outputs of a partition range and never the events an asset logs itself. So the partitions one
SQLMesh batch filled are logged here as Dagster does for an output over a partition range: one
batch per model and SQLMesh batch, flushed when its last event is logged. Dagster batches only
when `DAGSTER_EVENT_BATCH_SIZE` is above 0 in the process that stores the events; when it is
unset, it is set to the batch's size while the batch is logged (a value you set is kept; `0`
writes one event per call). On SQLite (the local instance), whose storage has no batch write, this
changes nothing: each event stays one write.

A run also observes the selected models that had nothing due ("up to date through ..."). In a run
without a partition range, an observation that repeats what the asset's latest event already says
is left out (the run's log says it); a range asked for explicitly always gets its observation.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import dagster as dg
from dagster._core.events import DagsterEvent, DagsterEventBatchMetadata, generate_event_batch_id

from ..definitions.partitions import interval_text, partition_windows
from ..metadata import (
    METADATA_ENVIRONMENT,
    METADATA_INTERVAL_END,
    METADATA_PARTITION_INTERVAL,
    METADATA_SNAPSHOT_VERSION,
    METADATA_STATUS,
)
from .targets import ModelTarget

logger = logging.getLogger(__name__)

UP_TO_DATE = "up to date"  # the status of a run's observation of a model with nothing due
NOT_READY = "not ready"  # ... of a model whose due intervals SQLMesh found not ready to run

# Dagster reads it from the environment at every event it stores (`handle_new_event`).
BATCH_SIZE_VARIABLE = "DAGSTER_EVENT_BATCH_SIZE"


@dataclass(frozen=True)
class PartitionMaterializations:
    """The partitions of one model that one SQLMesh batch filled: written to Dagster as one batch.

    Attributes:
        asset_key: The model's asset.
        materializations: One per partition, in time order; only the last one carries the model's
            run metadata (the others: environment, snapshot version, partition interval).
    """

    asset_key: dg.AssetKey
    materializations: tuple[dg.AssetMaterialization, ...]


def partition_materializations(
    target: ModelTarget,
    snapshot_version: str | None,
    intervals: Sequence[tuple[int, int]],
    environment: str,
    model_metadata: Mapping[str, Any] | None = None,
    *,
    reported_keys: list[str] | None = None,
) -> PartitionMaterializations:
    """One materialization per partition whose whole interval SQLMesh filled in `intervals`.

    They are events, not the step's output: Dagster would report an output for every partition
    of the run's range (or for none, in a run without a range), whatever SQLMesh filled. Each
    carries little metadata: a five-year history is about 1,800 of them per model, and the
    model's run metadata (column lineage included) would be repeated in every one. That goes on
    the last, which Dagster reads as the asset's latest materialization, when `model_metadata`
    is given (the model's last batch). `reported_keys` collects the keys reported.
    """
    assert target.partitions_def is not None
    version = snapshot_version
    materializations = []
    for start, end in sorted(intervals):
        windows = partition_windows(target.partitions_def, start, end)
        if not windows:
            logger.info(
                "%s: SQLMesh filled %s, which holds no whole partition (a partial interval, "
                "or one before the first partition); no partition is reported for it.",
                target.model_name,
                interval_text(start, end),
            )
        for key, window_ms in windows:
            if reported_keys is not None:
                reported_keys.append(key)
            materializations.append(
                dg.AssetMaterialization(
                    asset_key=target.asset_key,
                    partition=key,
                    metadata={
                        METADATA_ENVIRONMENT: environment,
                        METADATA_SNAPSHOT_VERSION: version,
                        METADATA_PARTITION_INTERVAL: interval_text(*window_ms),
                    },
                    tags=data_version_tags(data_version(version, [window_ms]), version),
                )
            )
    if model_metadata is not None and materializations:
        last = materializations[-1]
        materializations[-1] = last.with_metadata({**model_metadata, **last.metadata})
    return PartitionMaterializations(target.asset_key, tuple(materializations))


def data_version(snapshot_version: str | None, intervals: Sequence[tuple[int, int]]) -> str:
    """A data version from the snapshot version and the intervals this run wrote."""
    text = f"{snapshot_version}|" + ";".join(f"{start}-{end}" for start, end in intervals)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def batched_materializations(
    context: dg.AssetExecutionContext, materializations: Sequence[dg.AssetMaterialization]
) -> list[DagsterEvent]:
    """Logs one asset's materializations as one batch; returns the events for the step's stream.

    Each event is logged when it is created, as Dagster's own `DagsterEvent.asset_materialization`
    does for an output over a partition range, with batch metadata that makes the instance keep
    them until the last one and store them together. Postgres updates the asset's latest
    materialization from the batch's last event only, so a batch holds one asset's events.

    Args:
        context: The step's context.
        materializations: One asset's materializations, the latest last.
    """
    step_context = context.get_step_execution_context()
    batch_id: str = generate_event_batch_id()  # type: ignore[no-untyped-call]
    last = len(materializations) - 1
    with _batching(len(materializations)):
        return [
            DagsterEvent.asset_materialization(
                step_context, materialization, DagsterEventBatchMetadata(batch_id, index == last)
            )
            for index, materialization in enumerate(materializations)
        ]


@contextmanager
def _batching(size: int) -> Iterator[None]:
    """Dagster's batch size, set to `size` while a batch is logged unless it is set already."""
    if BATCH_SIZE_VARIABLE in os.environ or size < 2:
        yield
        return
    os.environ[BATCH_SIZE_VARIABLE] = str(size)
    try:
        yield
    finally:
        os.environ.pop(BATCH_SIZE_VARIABLE, None)


def repeats_latest(instance: dg.DagsterInstance, observation: dg.AssetObservation) -> bool:
    """Whether the asset's latest event already says what an up-to-date observation says.

    The same environment and the same end of the filled intervals, on the latest materialization
    or observation of the asset (one read of its asset record). Other observations never repeat.
    """
    if _plain(observation.metadata.get(METADATA_STATUS)) != UP_TO_DATE:
        return False
    records = instance.get_asset_records([observation.asset_key])
    if not records:
        return False
    entry = records[0].asset_entry
    latest = max(
        (r for r in (entry.last_materialization_record, entry.last_observation_record) if r),
        key=lambda r: r.storage_id,
        default=None,
    )
    if latest is None:
        return False
    event = latest.asset_event
    if event is None:
        return False
    return all(
        _plain(event.metadata.get(key)) == _plain(observation.metadata.get(key))
        for key in (METADATA_ENVIRONMENT, METADATA_INTERVAL_END)
    )


def _plain(value: object) -> object:
    """A metadata value as written (stored events hold `MetadataValue`s); times without `UTC`."""
    value = getattr(value, "value", value)
    return value.removesuffix(" UTC") if isinstance(value, str) else value


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


def as_materialization(
    result: dg.MaterializeResult[Any], context: dg.AssetExecutionContext
) -> dg.AssetMaterialization:
    """A step's result logged as an event, with the version tags Dagster gives an output."""
    assert result.asset_key is not None  # the event console always names the asset
    tags = dict(result.tags or {})
    if result.data_version is not None:
        code_version = context.assets_def.specs_by_key[result.asset_key].code_version
        tags.update(data_version_tags(result.data_version.value, code_version))
    return dg.AssetMaterialization(asset_key=result.asset_key, metadata=result.metadata, tags=tags)


def with_parent_versions(
    event: dg.AssetMaterialization,
    context: dg.AssetExecutionContext,
    parent_versions: ParentVersions,
) -> dg.AssetMaterialization:
    """The event with the input provenance tags Dagster gives an output (when it is versioned)."""
    tags = dict(event.tags or {})
    if "dagster/code_version" not in tags:
        return event  # Dagster reads provenance only next to a code version
    spec = context.assets_def.specs_by_key[event.asset_key]
    tags.update(parent_versions.tags(dep.asset_key for dep in spec.deps))
    return dg.AssetMaterialization(
        asset_key=event.asset_key,
        description=event.description,
        metadata=event.metadata,
        partition=event.partition,
        tags=tags,
    )


def as_evaluation(result: dg.AssetCheckResult) -> dg.AssetCheckEvaluation:
    """A check result recorded as an evaluation: logged by the step, not returned as output."""
    assert result.asset_key is not None and result.check_name is not None
    return dg.AssetCheckEvaluation(
        asset_key=result.asset_key,
        check_name=result.check_name,
        passed=result.passed,
        metadata=result.metadata,
        severity=result.severity,
        description=result.description,
    )
