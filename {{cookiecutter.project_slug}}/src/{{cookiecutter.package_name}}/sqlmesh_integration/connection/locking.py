"""A cross-process lock around SQLMesh runs that write to one DuckDB file.

DuckDB lets one process open a file for writing and fails at once (it cannot wait) when another
holds it. Dagster pools queue runs too, but only best-effort on a SQLite instance, so runs against a
DuckDB file also take this lock: a second run waits for the first instead of failing with "Could not
set lock on file".
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import RunLockTimeoutError

logger = logging.getLogger(__name__)


@contextmanager
def database_lock(
    database: Path | None, timeout_seconds: float, poll_seconds: float = 0.2
) -> Iterator[None]:
    """Holds an exclusive lock on `<database>.lock` while the block runs (no-op without a database).

    Raises:
        RunLockTimeoutError: another process held the lock for longer than `timeout_seconds`.
    """
    if database is None:
        yield
        return
    lock_path = database.with_name(database.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout_seconds
        waiting_logged = False
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RunLockTimeoutError(str(lock_path), timeout_seconds) from None
                if not waiting_logged:
                    logger.info("Waiting for another SQLMesh run to release %s.", lock_path)
                    waiting_logged = True
                time.sleep(poll_seconds)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)
