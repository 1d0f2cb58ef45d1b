"""A signal: SQLMesh asks it which hourly intervals are ready."""

import typing as t

from sqlmesh import signal
from sqlmesh.utils.date import DatetimeRanges


@signal()
def hours_landed(batch: DatetimeRanges, **_: t.Any) -> bool | DatetimeRanges:
    """The hours that start on an even hour (a real signal would look for the hour's files).

    The odd hours are never ready: SQLMesh leaves them missing, and neither a Dagster run nor a
    later `sqlmesh run` fills or reports them.
    """
    return [(start, end) for start, end in batch if start.hour % 2 == 0]
