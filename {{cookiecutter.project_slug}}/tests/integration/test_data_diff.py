"""The data diff on real SQLMesh and DuckDB: every change category, a removed model, the backfill.

The sample project is applied to prod (with its backfill), changed, and applied to `pr_1`; the
numbers are checked against the prod tables. (`scripts/ci/pr-diff.sh`, a changed filter, a new
model and a model without a grain are tested through the script by the template's tests.)
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from {{ cookiecutter.package_name }}.sqlmesh_integration.connection.context import open_context
from {{ cookiecutter.package_name }}.sqlmesh_integration.errors import EnvironmentNotFoundError
from {{ cookiecutter.package_name }}.sqlmesh_integration.pr_diff.collect import collect_data_diff
from {{ cookiecutter.package_name }}.sqlmesh_integration.pr_diff.report import DataDiffReport

from ..support import SampleProject

pytestmark = pytest.mark.slow


def apply_and_diff(sample: SampleProject, environment: str, **options: Any) -> DataDiffReport:
    """Applies the checked-out project to `environment` as plan-apply.sh does, then diffs it."""
    context = open_context(sample.project)
    try:
        context.plan(
            environment,
            auto_apply=True,
            no_prompts=True,
            skip_tests=True,
            include_unmodified=True,
            **options,
        )
        return collect_data_diff(context, environment, sample_rows=3)
    finally:
        context.close()


def test_direct_and_indirect_changes_and_a_removed_model(sample: SampleProject) -> None:
    sample.plan(skip_backfill=False)
    (customers,) = sample.query("SELECT count(*) FROM marts.customers")[0]
    (revenue_days,) = sample.query("SELECT count(*) FROM marts.daily_revenue")[0]
    staging = sample.models_dir / "staging" / "stg_customers.sql"
    staging.write_text(staging.read_text().replace("LOWER(TRIM(email))", "UPPER(TRIM(email))"))
    (sample.models_dir / "marts" / "daily_revenue.sql").unlink()
    report = apply_and_diff(sample, "pr_1")

    by_name = {model.name: model for model in report.models}
    assert set(by_name) == {"staging.stg_customers", "marts.customers", "marts.daily_revenue"}
    for name, change in (
        ("staging.stg_customers", "breaking"),
        ("marts.customers", "indirect breaking"),
    ):
        model = by_name[name]
        assert model.change == change
        assert (model.prod_rows, model.pull_request_rows) == (customers, customers)
        assert (model.rows_only_in_prod, model.rows_only_in_pull_request) == (0, 0)
        assert model.rows_changed == customers and model.rows_compared == customers
        assert model.differing_columns == (("email", customers),)
        assert model.schema_changes == () and model.destructive_columns == ()
        assert model.changed_sample is not None and len(model.changed_sample.rows) == 3
        assert model.changed_sample.headers == ("customer_id", "email (prod)", "email (PR)")
    removed = by_name["marts.daily_revenue"]
    assert removed.change == "removed" and removed.prod_rows == revenue_days
    assert "marts.orders" not in by_name, "an unchanged model is not diffed"


def test_an_environment_never_applied_is_named(applied_sample: SampleProject) -> None:
    context = open_context(applied_sample.project)
    try:
        with pytest.raises(EnvironmentNotFoundError, match="`pr_9` does not exist"):
            collect_data_diff(context, "pr_9", sample_rows=0)
    finally:
        context.close()


# A new daily model: the prod apply must fill the days the pull request's environment left out.
DAILY_CUSTOMERS = """MODEL (
  name marts.daily_customers,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column order_date
  ),
  end '2024-03-31',
  owner 'analytics',
  description 'Customers who ordered, per day.',
  grain order_date,
  audits (unique_values(columns := order_date))
);

SELECT
  order_date, /* Day the orders were placed. */
  COUNT(DISTINCT customer_id) AS customer_count /* Customers who ordered that day. */
FROM marts.orders
WHERE
  order_date BETWEEN @start_date AND @end_date
GROUP BY
  order_date
"""


def test_non_breaking_forward_only_and_the_prod_backfill(sample: SampleProject) -> None:
    """A pull request environment built from March only (`sqlmesh plan pr_1 --start 2024-03-01`,
    a usual way to keep previews cheap): the report must not call prod's older rows removed, and
    must count what the merge will compute."""
    sample.plan(skip_backfill=False)
    (customers,) = sample.query("SELECT count(*) FROM marts.customers")[0]
    march = "FROM marts.daily_revenue WHERE revenue_date >= DATE '2024-03-01'"
    (march_days, first_day, last_day) = sample.query(
        f"SELECT count(*), min(revenue_date), max(revenue_date) {march}"
    )[0]
    marts = sample.models_dir / "marts"
    customers_file = marts / "customers.sql"
    customers_file.write_text(
        customers_file.read_text().replace(
            "  customers.email, /* E-mail address, lower-cased. */\n",
            "  customers.email, /* E-mail address, lower-cased. */\n"
            "  customers.email LIKE '%.com' AS has_com_email, /* Ends in .com. */\n",
        )
    )
    revenue_file = marts / "daily_revenue.sql"
    text = revenue_file.read_text().replace(
        "    time_column revenue_date\n", "    time_column revenue_date,\n    forward_only TRUE\n"
    )
    revenue_file.write_text(
        text.replace("COUNT(*) AS order_count,", "COUNT(*) + 1 AS order_count,")
    )
    (marts / "daily_customers.sql").write_text(DAILY_CUSTOMERS)
    report = apply_and_diff(sample, "pr_1", start="2024-03-01")

    by_name = {model.name: model for model in report.models}
    assert set(by_name) == {"marts.customers", "marts.daily_revenue", "marts.daily_customers"}

    added = by_name["marts.customers"]
    assert added.change == "non-breaking" and added.destructive_columns == ()
    assert [(c.name, c.kind, c.pull_request_type) for c in added.schema_changes] == [
        ("has_com_email", "added", "BOOLEAN")
    ]
    assert (added.prod_rows, added.pull_request_rows, added.rows_changed) == (
        customers,
        customers,
        0,
    )
    assert added.backfill.rebuilds_table and added.backfill.intervals > 0, "FULL: one rebuild"

    forward = by_name["marts.daily_revenue"]
    assert forward.change == "forward-only"
    # Names and values are code spans in the Markdown (data_diff_markdown.code).
    assert forward.compared_range == f"`revenue_date` `{first_day}` to `{last_day}`"
    assert (forward.prod_rows, forward.pull_request_rows) == (march_days, march_days)
    assert (forward.rows_only_in_prod, forward.rows_only_in_pull_request) == (0, 0), (
        "rows before the preview are not changed by the merge"
    )
    assert forward.rows_changed == march_days
    assert forward.differing_columns == (("order_count", march_days),)
    assert forward.backfill.intervals == 0
    assert forward.changed_sample is not None
    assert forward.changed_sample.rows[0][0] == str(first_day), "a DATE is shown as a date"

    new = by_name["marts.daily_customers"]
    assert new.change == "new" and new.prod_rows is None
    january_and_february = (datetime.date(2024, 3, 1) - datetime.date(2024, 1, 1)).days
    assert new.backfill.intervals == january_and_february
    assert new.backfill.dates == "2024-01-01 - 2024-02-29"
    assert not new.backfill.rebuilds_table

    # Without a preview (`--enable-preview` off) a forward-only change has nothing to compare:
    # no row numbers at all, rather than all of prod's rows "only in prod".
    revenue_file.write_text(revenue_file.read_text().replace("COUNT(*) + 1 AS", "COUNT(*) + 2 AS"))
    report = apply_and_diff(sample, "pr_2", enable_preview=False)
    (unpreviewed,) = [model for model in report.models if model.name == "marts.daily_revenue"]
    assert unpreviewed.change == "forward-only"
    assert (unpreviewed.prod_rows, unpreviewed.rows_only_in_prod) == (None, None)
    assert "holds no preview rows" in unpreviewed.notes[-1]


def test_a_forward_only_model_without_grain_is_counted_within_the_preview(
    sample: SampleProject,
) -> None:
    """No grain, so counts only: they must cover the preview's range, as the report says."""
    sample.plan(skip_backfill=False)
    march = "FROM marts.daily_revenue WHERE revenue_date >= DATE '2024-03-01'"
    (march_days,) = sample.query(f"SELECT count(*) {march}")[0]
    (all_days,) = sample.query("SELECT count(*) FROM marts.daily_revenue")[0]
    assert all_days > march_days
    revenue_file = sample.models_dir / "marts" / "daily_revenue.sql"
    text = revenue_file.read_text().replace(
        "    time_column revenue_date\n", "    time_column revenue_date,\n    forward_only TRUE\n"
    )
    assert "  grain revenue_date,\n" in text
    text = text.replace("  grain revenue_date,\n", "")
    revenue_file.write_text(
        text.replace("COUNT(*) AS order_count,", "COUNT(*) + 1 AS order_count,")
    )

    report = apply_and_diff(sample, "pr_1", start="2024-03-01")

    (revenue,) = [model for model in report.models if model.name == "marts.daily_revenue"]
    assert revenue.change == "forward-only" and revenue.rows_compared is None
    assert revenue.compared_range.startswith("`revenue_date` `2024-03-")
    assert (revenue.prod_rows, revenue.pull_request_rows) == (march_days, march_days)
