"""Dagster partitions from SQLMesh intervals (a minimal version; no SQLMesh import).

A model SQLMesh fills interval by interval (INCREMENTAL_BY_TIME_RANGE) gets a time-window partitions
definition with the model's interval unit and start, in UTC; every other kind is unpartitioned.
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from .manifest import SQLMeshModel

_INTERVAL_KINDS = frozenset({"INCREMENTAL_BY_TIME_RANGE"})
# SQLMesh interval unit -> (cron of the partition boundaries, partition key format).
_UNITS = {
    "hour": ("0 * * * *", "%Y-%m-%d-%H:%M"),
    "day": ("0 0 * * *", "%Y-%m-%d"),
    "month": ("0 0 1 * *", "%Y-%m"),
}


def partitions_definition(model: SQLMeshModel) -> dg.TimeWindowPartitionsDefinition | None:
    """The time-window partitions of a model with time intervals; None for other models."""
    unit = _UNITS.get(model.interval_unit or "")
    if model.kind not in _INTERVAL_KINDS or unit is None or not model.start:
        return None
    cron_schedule, fmt = unit
    return dg.TimeWindowPartitionsDefinition(
        start=_start(model.start), fmt=fmt, cron_schedule=cron_schedule, timezone="UTC"
    )


def _start(text: str) -> datetime:
    """The model's start (SQLMesh writes a date, a timestamp or epoch milliseconds) in UTC."""
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC).replace(tzinfo=None)
    return datetime.fromisoformat(text).replace(tzinfo=None)
