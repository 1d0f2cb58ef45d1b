"""Dagster event log storages that count their writes, and can add a latency to each write call.

Used by `long_history.py` through the instance's `dagster.yaml` (`event_log_storage: module:
instrumented_storage`, this folder on PYTHONPATH). A *write call* is one call the instance makes to
the storage: `store_event` (one event) or `store_event_batch` (many). It is what a Dagster+ run
worker turns into one request to the Dagster+ API, so `BENCHMARK_WRITE_LATENCY_MS` (added once per
call, before the write) simulates Dagster+'s event path on top of a real storage: an assumption,
since Dagster+'s real latency depends on the network and the region. Each process that wrote
appends one JSON line of totals to `BENCHMARK_WRITE_COUNTS` at exit.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._serdes import ConfigurableClassData

_TOTALS: Counter[str] = Counter()
_LOCK = threading.Lock()
_STATE = threading.local()


def _latency() -> float:
    return float(os.environ.get("BENCHMARK_WRITE_LATENCY_MS", "0")) / 1000


def _count(call: str, events: Sequence[EventLogEntry]) -> None:
    with _LOCK:
        _TOTALS["write_calls"] += 1
        _TOTALS[f"{call}_calls"] += 1
        _TOTALS["events"] += len(events)
        for event in events:
            _TOTALS[f"event:{event.dagster_event_type or 'log'}"] += 1


def _top_level(call: str, events: Sequence[EventLogEntry]) -> bool:
    """Counts (and delays) a call unless it is a storage's own call inside a batch."""
    if getattr(_STATE, "inside", False):
        return False
    _count(call, events)
    if _latency():
        time.sleep(_latency())
    return True


@atexit.register
def _write_totals() -> None:
    path = os.environ.get("BENCHMARK_WRITE_COUNTS")
    if path and _TOTALS:
        with open(path, "a") as output:
            output.write(json.dumps({"pid": os.getpid(), **_TOTALS}) + "\n")


class _Counting:
    """Counts each top-level write call; a batch's inner `store_event` calls are its own."""

    def store_event(self, event: EventLogEntry) -> None:
        if not _top_level("store_event", [event]):
            super().store_event(event)  # type: ignore[misc]
            return
        _STATE.inside = True
        try:
            super().store_event(event)  # type: ignore[misc]
        finally:
            _STATE.inside = False

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        _top_level("store_event_batch", events)
        _STATE.inside = True
        try:
            super().store_event_batch(events)  # type: ignore[misc]
        finally:
            _STATE.inside = False


class CountingSqliteEventLogStorage(_Counting, SqliteEventLogStorage):
    """The local instance's SQLite event log storage, counted."""

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> CountingSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)


def _postgres_class() -> type | None:
    try:
        from dagster_postgres.event_log.event_log import PostgresEventLogStorage
        from dagster_postgres.utils import pg_url_from_config
    except ImportError:  # dagster-postgres not installed: the Postgres rows are not measured
        return None

    class CountingPostgresEventLogStorage(_Counting, PostgresEventLogStorage):
        """dagster-postgres's event log storage (one insert per batch), counted."""

        @classmethod
        def from_config_value(  # type: ignore[override]
            cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
        ) -> CountingPostgresEventLogStorage:
            return cls(
                inst_data=inst_data,
                postgres_url=pg_url_from_config(config_value),
                should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            )

    return CountingPostgresEventLogStorage


CountingPostgresEventLogStorage = _postgres_class()
