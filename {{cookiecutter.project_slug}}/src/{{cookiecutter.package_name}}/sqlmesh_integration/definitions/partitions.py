"""SQLMesh intervals as Dagster partitions (no SQLMesh import: used when definitions load).

SQLMesh records, per model, which time intervals it has filled (epoch milliseconds, UTC, start
inclusive, end exclusive), in steps of the model's interval unit. A model whose intervals can be
filled and restated one by one gets a Dagster time-window partitions definition with one partition
per interval:

- the kind is `INCREMENTAL_BY_TIME_RANGE` (:data:`PARTITIONED_KINDS`). The other incremental kinds
  (`INCREMENTAL_BY_UNIQUE_KEY`, `INCREMENTAL_BY_PARTITION`, `INCREMENTAL_UNMANAGED`, `SCD_TYPE_2*`,
  `MANAGED`) also record intervals, but SQLMesh fills them in one uninterrupted sequence and only
  restates their whole history (`full_history_restatement_only`), so a partition of them could
  neither be backfilled nor recomputed alone. `CUSTOM` kinds decide in their own code what a time
  range means. FULL, VIEW, SEED, EMBEDDED and external models have no time range at all. All of
  them stay unpartitioned (override `SQLMeshTranslator.get_partitions_def` to choose otherwise);
- the partitions follow the interval unit (five minutes to a year), in UTC, from the model's start
  floored to that unit (`SQLMeshModel.partition_start`, resolved when the manifest is prepared: a
  relative start such as `'1 week ago'` is resolved then, see docs/integration.md).

Partition keys and intervals convert both ways with :func:`partition_keys` and
:func:`partition_interval`.

Example:
    >>> model = SQLMeshModel(  # doctest: +SKIP
    ...     name='"db"."marts"."orders"', catalog="db", schema="marts", table="orders",
    ...     kind="INCREMENTAL_BY_TIME_RANGE", dialect="duckdb", cron="@daily",
    ...     interval_unit="day", partition_start="2024-01-01T00:00:00+00:00",
    ... )
    >>> partition_keys(model, 1704067200000, 1704240000000)  # doctest: +SKIP
    ['2024-01-01', '2024-01-02']
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from ..errors import InvalidInputError
from .manifest import SQLMeshModel

# The SQLMesh kinds whose intervals become partitions (see the module docstring).
PARTITIONED_KINDS = frozenset({"INCREMENTAL_BY_TIME_RANGE"})

# SQLMesh's interval units (`IntervalUnit`) as a cron schedule and a partition key format.
_UNITS: dict[str, tuple[str, str]] = {
    "five_minute": ("*/5 * * * *", "%Y-%m-%d-%H:%M"),
    "quarter_hour": ("*/15 * * * *", "%Y-%m-%d-%H:%M"),
    "half_hour": ("*/30 * * * *", "%Y-%m-%d-%H:%M"),
    "hour": ("0 * * * *", "%Y-%m-%d-%H:%M"),
    "day": ("0 0 * * *", "%Y-%m-%d"),
    "month": ("0 0 1 * *", "%Y-%m-%d"),
    "year": ("0 0 1 1 *", "%Y"),
}

Partitioned = SQLMeshModel | dg.TimeWindowPartitionsDefinition


def partitions_definition(model: SQLMeshModel) -> dg.TimeWindowPartitionsDefinition | None:
    """The Dagster partitions of a model: one per SQLMesh interval, or None when unpartitioned.

    Args:
        model: The model, as prepared in the manifest.

    Returns:
        A UTC time-window partitions definition following the model's interval unit and starting
        at its `partition_start`; None for kinds that are not partitioned (see the module
        docstring) or when the manifest has no start for the model.
    """
    if model.kind not in PARTITIONED_KINDS or not model.partition_start:
        return None
    unit = _UNITS.get(model.interval_unit or "")
    if unit is None:
        return None
    cron_schedule, key_format = unit
    return dg.TimeWindowPartitionsDefinition(
        cron_schedule=cron_schedule,
        start=datetime.fromisoformat(model.partition_start).astimezone(UTC),
        # A model with an `end` has no intervals after it: no partitions either.
        end=(
            datetime.fromisoformat(model.partition_end).astimezone(UTC)
            if model.partition_end
            else None
        ),
        fmt=key_format,
        timezone="UTC",
    )


def partition_keys(partitioned: Partitioned, start_ms: int, end_ms: int) -> list[str]:
    """The partition keys whose whole window lies in a SQLMesh interval.

    Args:
        partitioned: A model (its :func:`partitions_definition`) or a partitions definition.
        start_ms: The interval's start, epoch milliseconds UTC, inclusive (SQLMesh's convention).
        end_ms: The interval's end, epoch milliseconds UTC, exclusive.

    Returns:
        The keys in time order; empty when the model is unpartitioned. Windows before the
        partitions' start, or only partly inside the interval (a partial interval SQLMesh filled
        with `allow_partials`), are left out: they are not complete partitions.
    """
    return [key for key, _ in partition_windows(partitioned, start_ms, end_ms)]


def partition_windows(
    partitioned: Partitioned, start_ms: int, end_ms: int
) -> list[tuple[str, tuple[int, int]]]:
    """:func:`partition_keys` with each key's window (epoch milliseconds UTC, end exclusive).

    One window lookup per interval, not per key: a partition's window ends where the next one
    starts (the keys of a five-year daily history are 1,826 lookups fewer).
    """
    partitions_def = _definition(partitioned)
    if partitions_def is None or end_ms <= start_ms:
        return []
    start = max(_datetime(start_ms), partitions_def.start)
    end = _datetime(end_ms)
    keys = partitions_def.get_partition_keys_in_time_window(dg.TimeWindow(start, end))
    if not keys:
        return []
    starts = [datetime.strptime(key, partitions_def.fmt).replace(tzinfo=UTC) for key in keys]
    ends = [*starts[1:], partitions_def.time_window_for_partition_key(keys[-1]).end]
    return [
        (key, (epoch_ms(window_start), epoch_ms(window_end)))
        for key, window_start, window_end in zip(keys, starts, ends, strict=True)
        if window_start >= start and window_end <= end
    ]


def partition_interval(partitioned: Partitioned, first_key: str, last_key: str) -> tuple[int, int]:
    """The SQLMesh interval that a range of partition keys covers.

    Args:
        partitioned: A model (its :func:`partitions_definition`) or a partitions definition.
        first_key: The first partition key of the range.
        last_key: The last partition key of the range (inclusive, as in Dagster's ranges).

    Returns:
        `(start_ms, end_ms)`: the start of the first window and the end of the last, in epoch
        milliseconds UTC (end exclusive), what `Context.run(start=, end=)` takes.

    Raises:
        InvalidInputError: the model is unpartitioned.
    """
    partitions_def = _definition(partitioned)
    if partitions_def is None:
        raise InvalidInputError("The model has no partitions: it is not split into time intervals.")
    start = partitions_def.time_window_for_partition_key(first_key).start
    end = partitions_def.time_window_for_partition_key(last_key).end
    return epoch_ms(start), epoch_ms(end)


def _definition(partitioned: Partitioned) -> dg.TimeWindowPartitionsDefinition | None:
    if isinstance(partitioned, dg.TimeWindowPartitionsDefinition):
        return partitioned
    return partitions_definition(partitioned)


def _datetime(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)


def epoch_ms(moment: datetime) -> int:
    """A moment as SQLMesh's epoch milliseconds (UTC)."""
    return round(moment.timestamp() * 1000)


def interval_text(start_ms: int, end_ms: int) -> str:
    """A SQLMesh interval as people read it: `2024-01-01 00:00 to 2024-01-04 00:00` (UTC)."""
    return f"{_datetime(start_ms):%Y-%m-%d %H:%M} to {_datetime(end_ms):%Y-%m-%d %H:%M}"
