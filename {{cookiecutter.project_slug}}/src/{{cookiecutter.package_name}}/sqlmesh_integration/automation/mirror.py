"""The mirror: what SQLMesh filled outside Dagster becomes runless Dagster materializations.

CI's `sqlmesh plan prod --auto-apply` backfills every changed model, and anyone may `sqlmesh run`
from a terminal. Without the mirror, Dagster would show that data as never materialized. A mirror
pass compares what SQLMesh filled (its state, read by `filled.py`) with what Dagster recorded:

- a partitioned asset gets one materialization per partition whose whole time window SQLMesh
  filled and Dagster has not recorded as materialized (by a run, or by an earlier pass);
- an unpartitioned asset gets one when SQLMesh last wrote its table after Dagster's latest
  materialization of it.

A second pass over the same state adds nothing. Each event is attributed: `sqlmesh/source` is
`plan` when SQLMesh last wrote the model before the environment's last plan was finalized, and
`run` when it wrote it after (a `sqlmesh run`); a plan's events carry its id, and a pass that runs
in CI carries the CI run's URL (`sqlmesh/ci_run_url`).

This module does not import SQLMesh: the sensor and the CLI call `filled.read_filled_state` (which
does) only when a pass runs, never when definitions load.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import dagster as dg

from ..metadata import (
    METADATA_CI_RUN_URL,
    METADATA_ENVIRONMENT,
    METADATA_FILLED_AT,
    METADATA_INTERVAL_END,
    METADATA_MODEL_NAME,
    METADATA_PLAN_ID,
    METADATA_SNAPSHOT_VERSION,
    METADATA_SOURCE,
)
from .filled_state import SOURCE_PLAN, FilledModel, FilledState

if TYPE_CHECKING:
    from ..definitions.project import SQLMeshProject


class MaterializationLedger(Protocol):
    """What Dagster already recorded for an asset (the instance, or Dagster+ through its API)."""

    def materialized_partitions(self, asset_key: dg.AssetKey) -> set[str]:
        """The asset's partitions with a materialization."""
        ...

    def last_materialized_ms(self, asset_key: dg.AssetKey) -> int | None:
        """When the asset was last materialized (epoch milliseconds), None if never."""
        ...


@dataclass(frozen=True)
class InstanceLedger:
    """The ledger of a Dagster instance (a sensor's, or the one DAGSTER_HOME points to)."""

    instance: dg.DagsterInstance

    def materialized_partitions(self, asset_key: dg.AssetKey) -> set[str]:
        """The asset's partitions with a materialization."""
        return set(self.instance.get_materialized_partitions(asset_key))

    def last_materialized_ms(self, asset_key: dg.AssetKey) -> int | None:
        """When the asset was last materialized (epoch milliseconds), None if never."""
        event = self.instance.get_latest_materialization_event(asset_key)
        return None if event is None else int(event.timestamp * 1000)


def ci_run_url(env: Mapping[str, str] | None = None) -> str | None:
    """The URL of the CI run this process belongs to (GitHub Actions), None outside CI.

    Example:
        >>> ci_run_url({"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/data",
        ...             "GITHUB_RUN_ID": "42"})
        'https://github.com/acme/data/actions/runs/42'
    """
    env = os.environ if env is None else env
    parts = [env.get(name, "").strip() for name in ("GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    if not all(parts):
        return None
    server = env.get("GITHUB_SERVER_URL", "").strip().rstrip("/") or "https://github.com"
    return f"{server}/{parts[0]}/actions/runs/{parts[1]}"


# What SQLMesh had written when a pass of this process last found all of it in Dagster, by
# (project folder, environment): the environment's plan, the latest time SQLMesh wrote any of its
# models, and how many models it has. A sensor's next tick skips the comparison with Dagster while
# SQLMesh wrote nothing new.
_complete_passes: dict[tuple[str, str], tuple[str | None, int | None, int]] = {}


@dataclass(frozen=True)
class MirrorPass:
    """The outcome of a mirror pass: the events to report, or why SQLMesh was not read.

    Attributes:
        events: The materializations to report now.
        skipped: Why SQLMesh was not read; None when it was.
        remaining: Events left for the next pass (beyond the pass's `max_events`).
    """

    events: list[dg.AssetMaterialization]
    skipped: str | None = None
    remaining: int = 0


def mirror_pass(
    specs: Iterable[dg.AssetSpec],
    project: SQLMeshProject,
    environment: str,
    ledger: MaterializationLedger,
    *,
    run_url: str | None = None,
    max_events: int | None = None,
    skip_unchanged: bool = False,
) -> MirrorPass:
    """Reads SQLMesh's state (read-only) and returns what Dagster has not recorded yet.

    At most `max_events` events (upstream assets and earlier partitions first), so that a first
    pass after a long backfill does not hold a sensor tick for minutes: the next pass reports the
    rest. With `skip_unchanged` (the sensor's ticks), a pass finds nothing new without asking
    Dagster while SQLMesh wrote nothing since this process's last pass reported everything.

    Raises:
        EnvironmentNotFoundError: the environment was never applied.
        StateConnectionError: the state database or warehouse could not be reached.
    """
    from .filled import read_filled_state  # imports SQLMesh: only when a pass runs

    filled = read_filled_state(project, environment)
    if filled.busy is not None:
        return MirrorPass([], skipped=f"SQLMesh was not read: {filled.busy}; the next pass will.")
    key = (str(project.project_dir), environment)
    written = (
        filled.plan_id,
        max((model.filled_at_ms or 0 for model in filled.models.values()), default=None),
        len(filled.models),
    )
    if skip_unchanged and _complete_passes.get(key) == written:
        return MirrorPass([])
    events = mirror_events(specs, filled, ledger, run_url=run_url)
    if not events:  # Dagster holds everything SQLMesh wrote (a reported event counts next pass)
        _complete_passes[key] = written
    if max_events is None or len(events) <= max_events:
        return MirrorPass(events)
    return MirrorPass(events[:max_events], remaining=len(events) - max_events)


def mirror_events(
    specs: Iterable[dg.AssetSpec],
    filled: FilledState,
    ledger: MaterializationLedger,
    *,
    run_url: str | None = None,
) -> list[dg.AssetMaterialization]:
    """The runless materializations for what SQLMesh filled and Dagster has not recorded.

    Args:
        specs: The SQLMesh assets' specs (their `sqlmesh/model_name` metadata names the model).
        filled: What SQLMesh filled (`filled.read_filled_state`).
        ledger: What Dagster already recorded.
        run_url: The CI run's URL, recorded on every event when given.
    """
    events: list[dg.AssetMaterialization] = []
    for spec in specs:
        name = spec.metadata.get(METADATA_MODEL_NAME)
        model = filled.models.get(str(name)) if name is not None else None
        if model is None or not model.intervals:
            continue
        metadata = attribution(model, filled, run_url)
        partitions_def = spec.partitions_def
        if partitions_def is None:
            if _newer_than_dagster(model, ledger.last_materialized_ms(spec.key)):
                events.append(_materialization(spec.key, None, model, filled, metadata))
        elif isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
            recorded = ledger.materialized_partitions(spec.key)
            events.extend(
                _materialization(spec.key, key, model, filled, metadata)
                for key in filled_partition_keys(partitions_def, model.intervals)
                if key not in recorded
            )
    return events


def filled_partition_keys(
    partitions_def: dg.TimeWindowPartitionsDefinition, intervals: Sequence[tuple[int, int]]
) -> list[str]:
    """The keys of the partitions whose whole time window lies in the filled intervals."""
    first = partitions_def.start.timestamp() * 1000
    keys: list[str] = []
    for start_ms, end_ms in intervals:
        window = dg.TimeWindow(_datetime(max(start_ms, int(first))), _datetime(end_ms))
        if window.start >= window.end:
            continue
        for key in partitions_def.get_partition_keys_in_time_window(window):
            partition = partitions_def.time_window_for_partition_key(key)
            if partition.start >= window.start and partition.end <= window.end:
                keys.append(key)
    return keys


def attribution(
    model: FilledModel, filled: FilledState, run_url: str | None = None
) -> dict[str, Any]:
    """The metadata that says which SQLMesh command filled the data, and where it ran."""
    source = filled.source(model)
    metadata: dict[str, Any] = {
        METADATA_SOURCE: source,
        METADATA_ENVIRONMENT: filled.environment,
        METADATA_SNAPSHOT_VERSION: model.snapshot_version,
    }
    if model.filled_at_ms is not None:
        metadata[METADATA_FILLED_AT] = _iso(model.filled_at_ms)
    if source == SOURCE_PLAN and filled.plan_id:
        metadata[METADATA_PLAN_ID] = filled.plan_id
    if run_url:
        metadata[METADATA_CI_RUN_URL] = dg.MetadataValue.url(run_url)
    return metadata


def summary(events: Sequence[dg.AssetMaterialization]) -> str:
    """One line per asset: how many partitions (or one materialization) and from which source."""
    counts: dict[tuple[str, str], int] = {}
    for event in events:
        source = event.metadata[METADATA_SOURCE]
        label = (event.asset_key.to_user_string(), str(getattr(source, "value", source)))
        counts[label] = counts.get(label, 0) + 1
    return "; ".join(
        f"{key} ({count} from `sqlmesh {source}`)"
        for (key, source), count in sorted(counts.items())
    )


def _newer_than_dagster(model: FilledModel, last_materialized_ms: int | None) -> bool:
    if last_materialized_ms is None:
        return True
    return model.filled_at_ms is not None and model.filled_at_ms > last_materialized_ms


def _materialization(
    asset_key: dg.AssetKey,
    partition: str | None,
    model: FilledModel,
    filled: FilledState,
    metadata: Mapping[str, Any],
) -> dg.AssetMaterialization:
    extra = {} if partition else {METADATA_INTERVAL_END: _iso(model.intervals[-1][1])}
    return dg.AssetMaterialization(
        asset_key=asset_key,
        partition=partition,
        description=(
            f"Filled by `sqlmesh {filled.source(model)}` in `{filled.environment}`, outside "
            "Dagster (reported by the SQLMesh mirror)."
        ),
        metadata={**metadata, **extra},
    )


def _datetime(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


def _iso(epoch_ms: int) -> str:
    return _datetime(epoch_ms).strftime("%Y-%m-%d %H:%M:%S UTC")
