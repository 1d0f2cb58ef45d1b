"""A signal: SQLMesh asks it which hourly intervals are ready."""

import typing as t

from sqlmesh import signal
from sqlmesh.utils.date import DatetimeRanges


@signal()
def hours_landed(batch: DatetimeRanges, **_: t.Any) -> bool | DatetimeRanges:
    """Every hour is ready (a real signal would look for the hour's files)."""
    return batch
