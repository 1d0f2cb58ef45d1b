"""The data diff's report: what a pull request changes in each model, as plain values.

`collect.py` fills it from SQLMesh (the plan and the table diff); `markdown.py`
writes it for the pull request. No SQLMesh import: the Markdown and its tests need none.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ColumnChange:
    """A column added, removed or retyped between prod and the pull request (SQL types)."""

    name: str
    prod_type: str | None
    pull_request_type: str | None

    @property
    def kind(self) -> str:
        """`added`, `removed` or `retyped`."""
        if self.prod_type is None:
            return "added"
        if self.pull_request_type is None:
            return "removed"
        return "retyped"


@dataclass(frozen=True)
class Backfill:
    """What the prod apply computes for one model: its missing intervals, as SQLMesh plans them.

    A model that is rebuilt whole (FULL, VIEW, SEED) computes all its missing intervals in one
    query, so its interval count says little: `rebuilds_table` tells the two apart.
    """

    intervals: int
    dates: str
    rebuilds_table: bool


NO_BACKFILL = Backfill(intervals=0, dates="", rebuilds_table=False)


@dataclass(frozen=True)
class Sample:
    """A few rows of a diff, as text: column headers and rows of cell values."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class ModelDiff:
    """What the pull request changes in one model, with the plan's view of the change.

    Row numbers are None when they were not computed (a new model has no prod rows; a model
    without a grain gets counts only); `notes` says why. `compared_range` names the time range
    the rows were compared in, when not the whole table (a forward-only change's preview).

    `notes` and `compared_range` are Markdown, written by `collect.py` with every name, value and
    error text in them as a code span (`data_diff_markdown.code`); every other field is plain text,
    which the Markdown writes as code spans itself.
    """

    name: str
    change: str
    backfill: Backfill = NO_BACKFILL
    prod_rows: int | None = None
    pull_request_rows: int | None = None
    grain: tuple[str, ...] = ()
    rows_only_in_prod: int | None = None
    rows_only_in_pull_request: int | None = None
    rows_changed: int | None = None
    rows_compared: int | None = None
    differing_columns: tuple[tuple[str, int], ...] = ()
    schema_changes: tuple[ColumnChange, ...] = ()
    changed_sample: Sample | None = None
    only_in_prod_keys: tuple[str, ...] = ()
    only_in_pull_request_keys: tuple[str, ...] = ()
    compared_range: str = ""
    notes: tuple[str, ...] = ()

    @property
    def destructive_columns(self) -> tuple[str, ...]:
        """Columns the change removes or retypes: readers of the prod table break."""
        return tuple(c.name for c in self.schema_changes if c.kind != "added")

    @property
    def size(self) -> int:
        """How big the change is, to show the biggest first: rows that differ, columns changed."""
        rows = sum(
            value or 0
            for value in (self.rows_only_in_prod, self.rows_only_in_pull_request, self.rows_changed)
        )
        if self.rows_compared is None:
            rows = abs((self.pull_request_rows or 0) - (self.prod_rows or 0))
        return rows + len(self.schema_changes)


@dataclass(frozen=True)
class DataDiffReport:
    """The data diff of a pull request's environment against prod."""

    environment: str
    models: tuple[ModelDiff, ...]
    unchanged_data: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()
