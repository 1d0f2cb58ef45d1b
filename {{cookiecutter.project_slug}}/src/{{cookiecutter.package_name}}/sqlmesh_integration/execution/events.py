"""A SQLMesh console that turns evaluation progress into Dagster results as each model finishes.

SQLMesh reports progress through its console: one `update_snapshot_evaluation_progress` per
evaluated batch (`duration_ms` is None when the batch failed), non-blocking audit failures as
warnings, and, at the end, the failed and skipped models. :class:`DagsterEventConsole` keeps
per-model bookkeeping and, when a model's last batch succeeds, puts a `MaterializeResult` and its
`AssetCheckResult`s on a queue that the Dagster step drains while SQLMesh keeps running. Nothing is
reported that SQLMesh did not report: a model is materialized only when every batch it was due for
evaluated successfully, and an audit is reported only when SQLMesh ran it.

Row counts are what the engine says, never estimated: `sqlmesh/rows_processed` is SQLMesh's own
count of the rows its statements wrote, on engines that report one (Snowflake, BigQuery, Postgres…;
DuckDB does not, so it is absent there); `dagster/row_count` is the rows in the model's table after
its run, from a `COUNT(*)` through the environment's view (`row_counter`), omitted if it fails.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import typing as t
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import dagster as dg
from sqlmesh.core.console import NoopConsole
from sqlmesh.core.snapshot.definition import expand_range
from sqlmesh.utils.errors import NodeAuditsErrors

from ..definitions.manifest import SQLMeshAudit
from ..definitions.specs import check_names
from ..errors import first_line, mask_secrets
from ..metadata import (
    METADATA_BATCH_COUNT,
    METADATA_DURATION_SECONDS,
    METADATA_ENVIRONMENT,
    METADATA_FAILED_ROWS,
    METADATA_INTERVAL_COUNT,
    METADATA_INTERVAL_END,
    METADATA_INTERVALS,
    METADATA_PHYSICAL_TABLE,
    METADATA_ROWS_PROCESSED,
    METADATA_SNAPSHOT_VERSION,
)
from .event_writes import PartitionMaterializations, data_version, partition_materializations
from .targets import CheckTarget, ModelTarget

if t.TYPE_CHECKING:
    from sqlmesh.core.model.definition import AuditResult
    from sqlmesh.core.snapshot import Snapshot
    from sqlmesh.utils.concurrency import NodeExecutionFailedError

logger = logging.getLogger(__name__)

# SQLMesh's AuditError text: "'<audit>' audit error: <n> row(s) failed".
_AUDIT_WARNING = re.compile(r"'(?P<audit>[^']+)' audit error: (?P<count>\d+) rows? failed")


@dataclass
class ModelProgress:
    """What SQLMesh reported so far for one model in this run."""

    snapshot: Snapshot
    planned_batches: int
    intervals: list[tuple[int, int]] = field(default_factory=list)
    duration_ms: int = 0
    rows_processed: int | None = None
    audits_passed: list[int] = field(default_factory=list)
    audits_failed: list[int] = field(default_factory=list)
    audit_warnings: dict[str, int] = field(default_factory=dict)
    failed: bool = False
    reported: bool = False
    partition_keys: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ModelFailure:
    """A model SQLMesh reported as failed, with its cause and any blocking audit failures."""

    model_name: str
    cause: str
    audit_failures: Mapping[str, int]


class RunFinished:
    """Sentinel put on the queue when `Context.run` returned or raised."""


# Counts a model's rows in an environment (SQLMesh's EnvironmentNamingInfo); None if unknown.
RowCounter = Callable[["Snapshot", t.Any], int | None]


class DagsterEventConsole(NoopConsole):
    """Collects SQLMesh run progress and queues Dagster results per finished model.

    Args:
        targets: The selected models by SQLMesh name; models SQLMesh runs outside it are not
            reported.
        environment: The SQLMesh environment, for metadata.
        row_counter: Counts a finished model's rows (for targets with `fetch_row_count`); set by
            the runner once the context is open. Called on SQLMesh's evaluating thread, so it
            uses that thread's connection.
    """

    def __init__(
        self,
        targets: Mapping[str, ModelTarget],
        environment: str,
        row_counter: RowCounter | None = None,
    ) -> None:
        super().__init__()
        self.targets = dict(targets)
        self.environment = environment
        self.row_counter = row_counter
        self.environment_naming_info: t.Any = None
        self.events: queue.Queue[RunEvent | RunFinished] = queue.Queue()
        self.progress: dict[str, ModelProgress] = {}
        self.failures: dict[str, ModelFailure] = {}
        self.skipped: set[str] = set()
        self.not_ready: set[str] = set()
        self._current = threading.local()
        self._lock = threading.Lock()

    # SQLMesh console API

    def start_evaluation_progress(
        self,
        batched_intervals: Mapping[Snapshot, t.Sequence[tuple[int, int]]],
        environment_naming_info: t.Any,
        default_catalog: str | None,
        audit_only: bool = False,
    ) -> None:
        """Records which models are due, and how many batches each has.

        A model with no batch had intervals due that SQLMesh found not ready (a signal, or an
        upstream interval that is missing): it runs nothing and is recorded as not ready.
        """
        self.environment_naming_info = environment_naming_info
        with self._lock:
            for snapshot, intervals in batched_intervals.items():
                if snapshot.name not in self.targets:
                    continue
                if intervals:
                    self.progress[snapshot.name] = ModelProgress(snapshot, len(intervals))
                else:
                    self.not_ready.add(snapshot.name)

    def start_snapshot_evaluation_progress(
        self, snapshot: Snapshot, audit_only: bool = False
    ) -> None:
        """Remembers the model this thread evaluates (to attribute warnings)."""
        self._current.name = snapshot.name

    def update_snapshot_evaluation_progress(
        self,
        snapshot: Snapshot,
        interval: tuple[int, int],
        batch_idx: int,
        duration_ms: int | None,
        num_audits_passed: int,
        num_audits_failed: int,
        audit_only: bool = False,
        execution_stats: t.Any = None,
        auto_restatement_triggers: t.Any = None,
    ) -> None:
        """Records one evaluated batch and queues what it settled.

        SQLMesh stores a batch's interval in its state before it reports the batch, so a partitioned
        model's partitions are queued batch by batch (they stay materialized if a later batch
        fails); a model's materialization and its check results when its last batch is done.
        """
        with self._lock:
            progress = self.progress.get(snapshot.name)
            if progress is None:
                return
            if duration_ms is None:
                progress.failed = True
                return
            batch = (int(interval[0]), int(interval[1]))
            progress.intervals.append(batch)
            progress.duration_ms += duration_ms
            progress.audits_passed.append(num_audits_passed)
            progress.audits_failed.append(num_audits_failed)
            rows = getattr(execution_stats, "total_rows_processed", None)
            if rows is not None:
                progress.rows_processed = (progress.rows_processed or 0) + int(rows)
            finished = len(progress.intervals) == progress.planned_batches and not progress.failed
            progress.reported = progress.reported or finished
        target = self.targets[snapshot.name]
        if target.materialize and target.partitions_def is not None:
            # Each filled interval is a partition, whatever happens to the model's other batches.
            metadata = self._model_metadata(target, progress) if finished else None
            self.events.put(
                partition_materializations(
                    target,
                    progress.snapshot.version,
                    [batch],
                    self.environment,
                    metadata,
                    reported_keys=progress.partition_keys,
                )
            )
            if finished:
                for result in self._audit_results(target, progress):
                    self.events.put(result)
            return
        if not finished:
            return
        # Outside the lock: counting rows queries the engine while other models evaluate.
        row_count = self._row_count(target, snapshot)
        for event in self._model_events(target, progress, row_count):
            self.events.put(event)

    def log_warning(self, short_message: str, long_message: str | None = None) -> None:
        """Records a non-blocking audit failure for the current model; logs every warning."""
        name = getattr(self._current, "name", None)
        match = _AUDIT_WARNING.search(long_message or short_message)
        if name and match:
            with self._lock:
                progress = self.progress.get(name)
                if progress is not None:
                    audit = match.group("audit")
                    progress.audit_warnings[audit] = progress.audit_warnings.get(audit, 0) + int(
                        match.group("count")
                    )
        logger.warning(mask_secrets(short_message.strip()))

    def log_error(self, message: str, *args: t.Any, **kwargs: t.Any) -> None:
        """Logs a SQLMesh error."""
        logger.error(mask_secrets(message.strip()))

    def log_status_update(self, message: str) -> None:
        """Logs a SQLMesh status line."""
        logger.info(mask_secrets(message.strip()))

    def log_skipped_models(self, snapshot_names: set[str]) -> None:
        """Records models SQLMesh skipped because an upstream model failed."""
        with self._lock:
            self.skipped.update(snapshot_names)

    def log_failed_models(self, errors: list[NodeExecutionFailedError[t.Any]]) -> None:
        """Records failed models with their cause and any blocking audit failures."""
        with self._lock:
            for error in errors:
                name = _node_name(error.node)
                cause = error.__cause__ or error
                audit_failures: dict[str, int] = {}
                if isinstance(cause, NodeAuditsErrors):
                    for audit_error in cause.errors:
                        audit_failures[audit_error.audit_name] = (
                            audit_failures.get(audit_error.audit_name, 0) + audit_error.count
                        )
                    text = "blocking audit(s) failed: " + ", ".join(
                        f"{audit} ({count} rows)" for audit, count in audit_failures.items()
                    )
                else:
                    text = f"{type(cause).__name__}: {first_line(cause)}"
                self.failures[name] = ModelFailure(name, text, audit_failures)

    # Results

    def failure_check_results(self) -> list[dg.AssetCheckResult]:
        """Check results for blocking audits that failed (their model is not materialized)."""
        results = []
        for name, failure in self.failures.items():
            target = self.targets.get(name)
            if target is None:
                continue
            for check in target.checks:
                count = failure.audit_failures.get(check.audit_name)
                if count is None or _is_ambiguous(target, check):
                    continue
                results.append(_check_result(target, check, count, dg.AssetCheckSeverity.ERROR))
        return results

    def _row_count(self, target: ModelTarget, snapshot: Snapshot) -> int | None:
        # Partitioned models are reported per partition: the table's count is none of them.
        if target.partitions_def is not None:
            return None
        if not (target.materialize and target.fetch_row_count and self.row_counter):
            return None
        try:
            return self.row_counter(snapshot, self.environment_naming_info)
        except Exception as error:  # metadata only: a failed count never fails a model that ran
            logger.warning(
                "Could not count the rows of %s: %s", target.model_name, first_line(error)
            )
            return None

    def _model_metadata(self, target: ModelTarget, progress: ModelProgress) -> dict[str, t.Any]:
        """What a model's run reports: on its materialization, or its latest partition's."""
        snapshot = progress.snapshot
        intervals = sorted(progress.intervals)
        metadata: dict[str, t.Any] = {
            **target.materialization_metadata,
            METADATA_ENVIRONMENT: self.environment,
            METADATA_SNAPSHOT_VERSION: snapshot.version,
            METADATA_PHYSICAL_TABLE: snapshot.table_name(),
            METADATA_INTERVALS: dg.MetadataValue.text(
                "\n".join(f"{_iso(start)} to {_iso(end)}" for start, end in _merged(intervals))
            ),
            METADATA_INTERVAL_COUNT: interval_count(snapshot, intervals),
            METADATA_BATCH_COUNT: len(intervals),
            METADATA_INTERVAL_END: _iso(intervals[-1][1]),
            METADATA_DURATION_SECONDS: round(progress.duration_ms / 1000, 3),
        }
        if progress.rows_processed is not None:
            metadata[METADATA_ROWS_PROCESSED] = progress.rows_processed
        return metadata

    def _model_events(
        self, target: ModelTarget, progress: ModelProgress, row_count: int | None = None
    ) -> list[RunEvent]:
        """An unpartitioned model's materialization and check results (or a node's results)."""
        if not target.materialize:
            return list(self._audit_results(target, progress))  # a node that only audits
        metadata = self._model_metadata(target, progress)
        if row_count is not None:
            metadata["dagster/row_count"] = row_count
        events: list[RunEvent] = [
            dg.MaterializeResult(
                asset_key=target.asset_key,
                metadata=metadata,
                data_version=dg.DataVersion(
                    data_version(progress.snapshot.version, sorted(progress.intervals))
                ),
            )
        ]
        events.extend(self._audit_results(target, progress))
        return events

    def _audit_results(
        self, target: ModelTarget, progress: ModelProgress
    ) -> list[dg.AssetCheckResult]:
        all_ran = all(
            passed + failed == target.audit_count
            for passed, failed in zip(progress.audits_passed, progress.audits_failed, strict=True)
        )
        results = []
        for check in target.checks:
            failed_rows = progress.audit_warnings.get(check.audit_name)
            if _is_ambiguous(target, check) and (failed_rows or not all_ran):
                continue  # two checks share an audit name: SQLMesh's report cannot tell them apart
            if failed_rows is not None:
                results.append(
                    _check_result(target, check, failed_rows, dg.AssetCheckSeverity.WARN)
                )
            elif all_ran:
                severity = (
                    dg.AssetCheckSeverity.ERROR if check.blocking else dg.AssetCheckSeverity.WARN
                )
                results.append(_check_result(target, check, 0, severity))
            else:
                logger.warning(
                    "SQLMesh did not run every audit of %s; `%s` is not reported.",
                    target.model_name,
                    check.check_name,
                )
        return results


# What the console queues for the Dagster step, besides the end of the run.
RunEvent = (
    dg.MaterializeResult[t.Any]
    | dg.AssetMaterialization
    | dg.AssetCheckResult
    | dg.AssetObservation
    | PartitionMaterializations
)


def interval_count(snapshot: Snapshot, batches: t.Sequence[tuple[int, int]]) -> int:
    """The number of the model's intervals (days, hours, months…) the batches cover.

    A batch holds up to `batch_size` intervals (all of them when unset): a batch of 7 daily
    intervals counts 7.
    """
    unit = getattr(snapshot.node, "interval_unit", None)
    if unit is None:
        return len(batches)
    return sum(len(expand_range(start, end, unit)) - 1 for start, end in batches)


def audit_check_results(
    target: ModelTarget, results: t.Sequence[AuditResult]
) -> list[dg.AssetCheckResult]:
    """Check results for the selected checks from SQLMesh's audit results (`Context.audit`).

    Results come in the order of the node's audits; an audit name used twice maps to its checks
    `<name>_1`, `<name>_2` in that order, as the specs name them.
    """
    ran = [result for result in results if not result.skipped]
    names = check_names(tuple(SQLMeshAudit(result.audit.name, blocking=False) for result in ran))
    by_check_name = {name: result for (name, _), result in zip(names, ran, strict=True)}
    check_results = []
    for check in target.checks:
        found = by_check_name.get(check.check_name)
        if found is None:
            logger.warning(
                "SQLMesh did not run audit `%s` of %s; it is not reported.",
                check.audit_name,
                target.model_name,
            )
            continue
        failed_rows = int(found.count or 0)
        severity = dg.AssetCheckSeverity.ERROR if check.blocking else dg.AssetCheckSeverity.WARN
        check_results.append(_check_result(target, check, failed_rows, severity))
    return check_results


def _check_result(
    target: ModelTarget, check: CheckTarget, failed_rows: int, severity: dg.AssetCheckSeverity
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=target.asset_key,
        check_name=check.check_name,
        passed=failed_rows == 0,
        severity=severity,
        metadata={METADATA_FAILED_ROWS: failed_rows},
    )


def _is_ambiguous(target: ModelTarget, check: CheckTarget) -> bool:
    return sum(1 for other in target.checks if other.audit_name == check.audit_name) > 1


def _node_name(node: t.Any) -> str:
    return str(getattr(node, "snapshot_name", None) or getattr(node, "name", None) or node)


def _merged(intervals: t.Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted intervals with contiguous ones joined: one line per range, not per batch."""
    merged: list[tuple[int, int]] = []
    for start, end in intervals:
        if merged and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _iso(timestamp_ms: int) -> str:
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
