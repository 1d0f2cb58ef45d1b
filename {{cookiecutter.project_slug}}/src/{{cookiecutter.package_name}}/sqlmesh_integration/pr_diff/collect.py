"""What a pull request changes in the data: SQLMesh's table diff of `prod` against `pr_<number>`.

For the CI step `scripts/ci/pr-diff.sh` (`sqlmesh-dagster pr-diff`). SQLMesh decides what changed:
a plan of the checked-out project against `prod` (built, never applied) gives each model's change
category, whether the change drops columns, and the intervals the prod apply will backfill. For
every model that changes data (directly, or as an indirect breaking change) SQLMesh's table diff
(`Context.table_diff`) compares the model's view in `prod` with its view in the pull request's
environment on the model's grain or unique key; a forward-only change, which leaves prod's rows
alone, is compared within the time range of the pull request's preview only. The Markdown lives in
`markdown.py`.

Imported by the CLI only (it imports SQLMesh).
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import typing as t
from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlglot import exp
from sqlmesh.core.environment import Environment
from sqlmesh.core.snapshot import Snapshot, SnapshotChangeCategory, SnapshotTableInfo
from sqlmesh.core.snapshot.definition import format_intervals, merge_intervals
from sqlmesh.core.table_diff import SchemaDiff

from ..definitions.manifest import display_name
from ..definitions.project import PROD_ENVIRONMENT
from ..errors import EnvironmentNotFoundError, mask_secrets
from .markdown import code
from .report import (
    NO_BACKFILL,
    Backfill,
    ColumnChange,
    DataDiffReport,
    ModelDiff,
    Sample,
)

if t.TYPE_CHECKING:
    from sqlmesh.core.context import Context
    from sqlmesh.core.plan import Plan
    from sqlmesh.core.table_diff import RowDiff

# Cell values longer than this are cut in the sample (a comment is for reading, not for export).
_MAX_VALUE_LENGTH = 40
# Columns of a changed row shown in the sample, besides the grain.
_MAX_SAMPLE_COLUMNS = 4

_CATEGORY_LABELS = {
    SnapshotChangeCategory.BREAKING: "breaking",
    SnapshotChangeCategory.NON_BREAKING: "non-breaking",
    SnapshotChangeCategory.FORWARD_ONLY: "forward-only",
    SnapshotChangeCategory.INDIRECT_BREAKING: "indirect breaking",
    SnapshotChangeCategory.INDIRECT_NON_BREAKING: "indirect non-breaking",
    SnapshotChangeCategory.METADATA: "metadata only",
}


def collect_data_diff(context: Context, environment: str, *, sample_rows: int) -> DataDiffReport:
    """Diffs every model the checked-out project changes against prod, in `environment`'s tables.

    Args:
        context: A SQLMesh context of the checked-out project (the pull request's code).
        environment: The pull request's environment, already applied (`pr_<number>`).
        sample_rows: Rows of each sample (changed rows, keys only in one side); 0 for none.

    Raises:
        EnvironmentNotFoundError: `environment` was never applied.
    """
    state = context.state_reader
    pull_request_environment = state.get_environment(environment)
    if pull_request_environment is None:
        raise EnvironmentNotFoundError(environment, f"bash scripts/ci/plan-apply.sh {environment}")
    prod_environment = state.get_environment(PROD_ENVIRONMENT)
    plan = context.plan_builder(PROD_ENVIRONMENT, skip_tests=True, skip_linter=True).build()
    backfill = _backfill(plan)
    pull_request_tables = {s.name: s for s in pull_request_environment.snapshots}
    prod_tables = {s.name: s for s in prod_environment.snapshots} if prod_environment else {}
    notes = []
    if prod_environment is None:
        notes.append("`prod` does not exist yet: every model is new, so only row counts are shown.")
    differ = _Differ(context, prod_environment, pull_request_environment, sample_rows)

    models: list[ModelDiff] = []
    unchanged_data: list[tuple[str, str]] = []
    for snapshot in _changed_snapshots(plan):
        if not snapshot.is_model or snapshot.model.kind.is_external:
            continue
        change = _change_label(plan, snapshot)
        if snapshot.model.kind.is_embedded:
            # No table of its own: its change shows in the models that inline it.
            unchanged_data.append((snapshot.model.name, f"{change}; EMBEDDED, no table"))
            continue
        if not _changes_data(plan, snapshot):
            unchanged_data.append((snapshot.model.name, change))
            continue
        pull_request_table = pull_request_tables.get(snapshot.name)
        if pull_request_table is None or pull_request_table.fingerprint != snapshot.fingerprint:
            models.append(
                ModelDiff(
                    name=snapshot.model.name,
                    change=change,
                    backfill=backfill.get(snapshot.name, NO_BACKFILL),
                    notes=(
                        f"{code(environment)} holds another version of this model than the "
                        "checked-out code: run "
                        f"{code(f'bash scripts/ci/plan-apply.sh {environment}')} and diff again.",
                    ),
                )
            )
            continue
        models.append(
            differ.diff(
                snapshot,
                change=change,
                prod_table=prod_tables.get(snapshot.name),
                pull_request_table=pull_request_table,
                backfill=backfill.get(snapshot.name, NO_BACKFILL),
            )
        )
    for removed in plan.context_diff.removed_snapshots.values():
        models.append(differ.removed(removed))
    return DataDiffReport(
        environment=environment,
        models=tuple(sorted(models, key=lambda m: (-m.size, m.name))),
        unchanged_data=tuple(sorted(unchanged_data)),
        notes=tuple(notes),
    )


def _changed_snapshots(plan: Plan) -> list[Snapshot]:
    snapshots = plan.context_diff.snapshots
    ids = set(plan.directly_modified) | set(plan.context_diff.added)
    for downstream in plan.indirectly_modified.values():
        ids |= downstream
    return [snapshots[s_id] for s_id in sorted(ids)]


def _change_label(plan: Plan, snapshot: Snapshot) -> str:
    if snapshot.snapshot_id in plan.context_diff.added:
        return "new"
    if snapshot.is_forward_only and snapshot.change_category not in (
        SnapshotChangeCategory.INDIRECT_NON_BREAKING,
        SnapshotChangeCategory.METADATA,
    ):
        return "forward-only"
    if snapshot.change_category is None:
        return "uncategorized"
    return _CATEGORY_LABELS.get(snapshot.change_category, snapshot.change_category.name.lower())


def _changes_data(plan: Plan, snapshot: Snapshot) -> bool:
    """Whether the change can change the model's rows (not metadata, not indirect non-breaking)."""
    if snapshot.snapshot_id in plan.context_diff.added:
        return True
    return snapshot.change_category not in (
        SnapshotChangeCategory.INDIRECT_NON_BREAKING,
        SnapshotChangeCategory.METADATA,
    )


def _backfill(plan: Plan) -> dict[str, Backfill]:
    """Per snapshot name, the intervals the prod apply fills (SQLMesh's own date format)."""
    intervals: dict[str, list[tuple[int, int]]] = defaultdict(list)
    units = {}
    rebuilds = {}
    for missing in plan.missing_intervals:
        snapshot = plan.context_diff.snapshots[missing.snapshot_id]
        intervals[snapshot.name] += missing.intervals
        units[snapshot.name] = snapshot.node.interval_unit
        kind = snapshot.model.kind if snapshot.is_model else None
        rebuilds[snapshot.name] = bool(kind and (kind.is_full or kind.is_view or kind.is_seed))
    return {
        name: Backfill(
            intervals=len(found),
            dates=format_intervals(merge_intervals(found), units[name]),
            rebuilds_table=rebuilds[name],
        )
        for name, found in intervals.items()
    }


class _Differ:
    """Runs SQLMesh's table diff (and row counts) on the two environments' views of a model."""

    def __init__(
        self,
        context: Context,
        prod: Environment | None,
        pull_request: Environment,
        sample_rows: int,
    ) -> None:
        self.context = context
        self.adapter = context.engine_adapter
        self.prod = prod
        self.pull_request = pull_request
        self.sample_rows = sample_rows

    def diff(
        self,
        snapshot: Snapshot,
        *,
        change: str,
        prod_table: SnapshotTableInfo | None,
        pull_request_table: SnapshotTableInfo,
        backfill: Backfill,
    ) -> ModelDiff:
        model = snapshot.model
        base = ModelDiff(name=model.name, change=change, backfill=backfill)
        target = self._view(pull_request_table, self.pull_request)
        try:
            if prod_table is None or self.prod is None:
                return _replace(
                    base,
                    pull_request_rows=self._count(target),
                    notes=("New in this pull request: row counts only.",),
                )
            source = self._view(prod_table, self.prod)
            where = None
            if change == "forward-only":
                base, where = self._preview_range(base, snapshot, target)
                if where is None and self._count(target) == 0:
                    why = (
                        f"No row diff: {code(self.pull_request.name)} holds no preview rows of "
                        "this forward-only change (SQLMesh computed none). Schema only."
                    )
                    schema_only = self._counts_and_schema(base, source, target, why)
                    return _replace(schema_only, prod_rows=None, pull_request_rows=None)
            grain = _join_columns(snapshot)
            if not grain:
                why = (
                    f"No row diff: {code(model.name)} has no `grain` or unique key to join prod "
                    "and pull request rows on; add `grain <column>` to its MODEL block to get one. "
                    "Row counts and schema only."
                )
                return self._counts_and_schema(base, source, target, why, where)
            return self._row_diff(base, source, target, grain, where)
        except Exception as error:  # one model's failure must not hide the others' diffs
            return _replace(base, notes=(f"The diff failed: {_first_line(error)}",))

    def _preview_range(
        self, base: ModelDiff, snapshot: Snapshot, target: str
    ) -> tuple[ModelDiff, exp.Expr | None]:
        """A forward-only change leaves prod's rows alone: compare only the preview's time range.

        The pull request's table of a forward-only change is a preview that SQLMesh computed in
        a table of its own, often for recent intervals only. Rows of prod outside that range are
        not changed by the merge, so they must not count as rows the pull request removes.
        """
        note = (
            "Forward-only: the merge keeps the rows prod has; only intervals computed after it "
            "use the new code."
        )
        preview = f"{code(self.pull_request.name)} holds a preview of the new code's rows"
        time_column = snapshot.model.time_column
        if time_column is None:
            note += f" {preview}; rows only in prod may be rows the preview did not compute."
            return _replace(base, notes=(*base.notes, note)), None
        column = time_column.column.copy()
        row = self.adapter.fetchone(
            exp.select(exp.func("MIN", column.copy()), exp.func("MAX", column.copy())).from_(
                exp.to_table(target, dialect=self.adapter.dialect)
            )
        )
        if not row or row[0] is None:
            return _replace(base, notes=(*base.notes, note)), None
        low, high = row
        where = exp.Between(this=column, low=exp.convert(low), high=exp.convert(high))
        label = column.name or column.sql(dialect=self.adapter.dialect)
        compared = f"{code(label)} {code(_cell(low))} to {code(_cell(high))}"
        return (
            _replace(
                base,
                compared_range=compared,
                notes=(*base.notes, f"{note} {preview}: they are compared within its range only."),
            ),
            where,
        )

    def removed(self, table: SnapshotTableInfo) -> ModelDiff:
        name = table.name
        base = ModelDiff(name=display_name(name), change="removed")
        if self.prod is None:
            return base
        try:
            rows = self._count(self._view(table, self.prod))
        except Exception as error:
            return _replace(base, notes=(f"Counting its rows failed: {_first_line(error)}",))
        return _replace(
            base,
            prod_rows=rows,
            notes=("Removed in this pull request: the prod apply drops its view.",),
        )

    def _counts_and_schema(
        self,
        base: ModelDiff,
        source: str,
        target: str,
        why: str,
        where: exp.Expr | None = None,
    ) -> ModelDiff:
        schema_diff = SchemaDiff(
            source=source,
            target=target,
            source_schema=self.adapter.columns(source),
            target_schema=self.adapter.columns(target),
        )
        return _replace(
            base,
            prod_rows=self._count(source, where),
            pull_request_rows=self._count(target, where),
            schema_changes=_schema_changes(schema_diff),
            notes=(*base.notes, why),
        )

    def _row_diff(
        self,
        base: ModelDiff,
        source: str,
        target: str,
        grain: Sequence[str],
        where: exp.Expr | None = None,
    ) -> ModelDiff:
        (table_diff,) = self.context.table_diff(
            source,
            target,
            on=list(grain),
            where=where,
            show=False,
            limit=max(self.sample_rows, 1),
        )
        schema = _schema_changes(table_diff.schema_diff())
        rows = table_diff.row_diff()
        notes = [*base.notes, *_grain_notes(rows, grain)]
        if any(change.kind == "retyped" for change in schema):
            notes.append("Columns whose type changed are not compared value by value.")
        differing = _differing_columns(rows, grain)
        result = _replace(
            base,
            prod_rows=rows.source_count,
            pull_request_rows=rows.target_count,
            grain=tuple(grain),
            rows_only_in_prod=rows.s_only_count,
            rows_only_in_pull_request=rows.t_only_count,
            rows_changed=rows.join_count - rows.full_match_count,
            rows_compared=rows.join_count,
            differing_columns=differing,
            schema_changes=schema,
            notes=tuple(notes),
        )
        if self.sample_rows <= 0:
            return result
        return _replace(
            result,
            changed_sample=_changed_sample(rows, grain, differing, self.sample_rows),
            only_in_prod_keys=_keys(rows.s_sample, grain, self.sample_rows),
            only_in_pull_request_keys=_keys(rows.t_sample, grain, self.sample_rows),
        )

    def _view(self, table: SnapshotTableInfo, environment: Environment) -> str:
        return table.qualified_view_name.for_environment(
            environment.naming_info, dialect=self.adapter.dialect
        )

    def _count(self, table: str, where: exp.Expr | None = None) -> int:
        query = exp.select(exp.func("COUNT", exp.Star())).from_(
            exp.to_table(table, dialect=self.adapter.dialect)
        )
        if where is not None:
            query = query.where(where.copy())
        row = self.adapter.fetchone(query)
        return int(row[0]) if row else 0


def _join_columns(snapshot: Snapshot) -> list[str]:
    """The columns prod and pull request rows are matched on.

    SQLMesh's own choice (the grain, or the unique key), else, for an SCD type 2 history, its
    unique key with each version's start.
    """
    model = snapshot.model
    grain = list(model.on)
    kind = model.kind
    if grain or not kind.is_scd_type_2:
        return grain
    key = [*getattr(kind, "unique_key", []), getattr(kind, "valid_from_name", None)]
    if len(key) < 2 or not all(isinstance(column, exp.Column) for column in key):
        return []  # a key SQLMesh computes (an expression): nothing to join on by name
    return [column.name for column in key]


def _replace(diff: ModelDiff, **changes: t.Any) -> ModelDiff:
    return dataclasses.replace(diff, **changes)


def _schema_changes(schema_diff: SchemaDiff) -> tuple[ColumnChange, ...]:
    changes = [ColumnChange(name, None, data_type.sql()) for name, data_type in schema_diff.added]
    changes += [
        ColumnChange(name, data_type.sql(), None) for name, data_type in schema_diff.removed
    ]
    changes += [
        ColumnChange(name, old.sql(), new.sql())
        for name, (old, new) in sorted(schema_diff.modified.items())
    ]
    return tuple(changes)


def _grain_notes(rows: RowDiff, grain: Sequence[str]) -> Iterable[str]:
    keys = ", ".join(code(column) for column in grain)
    for side, count, distinct in (
        ("prod", rows.source_count, rows.stats.get("distinct_count_s")),
        ("the pull request", rows.target_count, rows.stats.get("distinct_count_t")),
    ):
        if distinct is not None and int(distinct) < count:
            yield (
                f"The grain {keys} is not unique in {side} ({count} rows, {int(distinct)} "
                "distinct keys): the row numbers below are approximate."
            )
    if rows.stats.get("null_grain_count"):
        # NULL keys never join: such rows count as rows on one side only.
        yield f"Some rows have a NULL grain ({keys}); they cannot be matched."


def _differing_columns(rows: RowDiff, grain: Sequence[str]) -> tuple[tuple[str, int], ...]:
    """Per compared column, how many joined rows differ (SQLMesh gives the match percentage)."""
    if rows.join_count == 0 or rows.column_stats.empty:
        return ()
    grain_names = {column.lower() for column in grain}
    differing = []
    for column, match_percentage in rows.column_stats["pct_match"].items():
        if str(column).lower() in grain_names:
            continue
        matching = round(rows.join_count * float(match_percentage) / 100)
        if rows.join_count - matching:
            differing.append((str(column), rows.join_count - matching))
    return tuple(sorted(differing, key=lambda item: (-item[1], item[0])))


def _changed_sample(
    rows: RowDiff,
    grain: Sequence[str],
    differing: Sequence[tuple[str, int]],
    limit: int,
) -> Sample | None:
    frame = rows.joined_sample
    if frame.empty or not differing:
        return None
    columns = [name for name, _ in differing[:_MAX_SAMPLE_COLUMNS]]
    headers = [*grain]
    for column in columns:
        headers += [f"{column} (prod)", f"{column} (PR)"]
    result = []
    for _, row in frame.head(limit).iterrows():
        cells = [_cell(_first(row, (column, f"s__{column}"))) for column in grain]
        for column in columns:
            cells += [
                _cell(_first(row, (f"s__{column}",))),
                _cell(_first(row, (f"t__{column}",))),
            ]
        result.append(tuple(cells))
    return Sample(headers=tuple(headers), rows=tuple(result))


def _keys(frame: t.Any, grain: Sequence[str], limit: int) -> tuple[str, ...]:
    if frame.empty:
        return ()
    keys = []
    for _, row in frame.head(limit).iterrows():
        keys.append(", ".join(_cell(_first(row, (column,))) for column in grain))
    return tuple(keys)


def _first(row: t.Any, names: Sequence[str]) -> t.Any:
    for name in names:
        if name in row.index:
            return row[name]
    return None


def _cell(value: t.Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NULL"
    if isinstance(value, datetime.datetime) and value == datetime.datetime.combine(
        value.date(), datetime.time(), value.tzinfo
    ):
        value = value.date()  # a DATE column read through pandas: no ` 00:00:00`
    text = " ".join(str(value).split())
    if len(text) > _MAX_VALUE_LENGTH:
        text = text[: _MAX_VALUE_LENGTH - 1] + "…"
    return text


def _first_line(error: BaseException) -> str:
    """The error's type and first line, masked and as a code span: error text is never Markdown."""
    text = mask_secrets(str(error)).strip()
    return code(f"{type(error).__name__}: {text.splitlines()[0] if text else 'no message'}")
