"""The data diff on real SQLMesh and DuckDB: an indirect breaking change and a removed model.

The sample project is applied to prod (with its backfill), changed, and applied to `pr_1`; the
numbers are checked against the prod tables. (`scripts/ci/pr-diff.sh`, a changed filter, a new
model and a model without a grain are tested through the script by the template's tests.)
"""

from __future__ import annotations

import pytest

from {{ cookiecutter.package_name }}.sqlmesh_integration.context import open_context
from {{ cookiecutter.package_name }}.sqlmesh_integration.data_diff import collect_data_diff
from {{ cookiecutter.package_name }}.sqlmesh_integration.errors import EnvironmentNotFoundError

from .support import SampleProject

pytestmark = pytest.mark.slow


def test_direct_and_indirect_changes_and_a_removed_model(sample: SampleProject) -> None:
    sample.plan(skip_backfill=False)
    (customers,) = sample.query("SELECT count(*) FROM marts.customers")[0]
    (revenue_days,) = sample.query("SELECT count(*) FROM marts.daily_revenue")[0]
    staging = sample.models_dir / "staging" / "stg_customers.sql"
    staging.write_text(staging.read_text().replace("LOWER(TRIM(email))", "UPPER(TRIM(email))"))
    (sample.models_dir / "marts" / "daily_revenue.sql").unlink()
    context = open_context(sample.project)
    try:
        context.plan(
            "pr_1", auto_apply=True, no_prompts=True, skip_tests=True, include_unmodified=True
        )
        report = collect_data_diff(context, "pr_1", sample_rows=3)
    finally:
        context.close()

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
