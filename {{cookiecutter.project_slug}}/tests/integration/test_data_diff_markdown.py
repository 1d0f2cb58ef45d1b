"""The data diff's Markdown (no SQLMesh): what a reviewer reads, and GitHub's comment size limit.

The diff itself runs on real SQLMesh and DuckDB through `scripts/ci/pr-diff.sh` in the template's
tests (tests/test_pr_diff.py there).
"""

from __future__ import annotations

import dataclasses

from {{ cookiecutter.package_name }}.sqlmesh_integration.pr_diff.markdown import (
    COMMENT_MAX_CHARACTERS,
    render_markdown,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.pr_diff.report import (
    Backfill,
    ColumnChange,
    DataDiffReport,
    ModelDiff,
    Sample,
)

GITHUB_COMMENT_LIMIT = 65_536


def changed_model(index: int, changed_rows: int) -> ModelDiff:
    return ModelDiff(
        name=f"marts.model_{index:04d}",
        change="breaking",
        backfill=Backfill(intervals=3, dates="2024-01-01 - 2024-01-03", rebuilds_table=False),
        prod_rows=1_000,
        pull_request_rows=1_000,
        grain=("id",),
        rows_only_in_prod=0,
        rows_only_in_pull_request=0,
        rows_changed=changed_rows,
        rows_compared=10_000,
        differing_columns=(("amount", changed_rows),),
        schema_changes=(ColumnChange("note", None, "TEXT"),),
        changed_sample=Sample(
            headers=("id", "amount (prod)", "amount (PR)"),
            rows=tuple((str(row), "1.00", "2.00 | x") for row in range(5)),
        ),
    )


def test_many_models_fit_one_comment_biggest_first() -> None:
    models = tuple(changed_model(index, changed_rows=3_000 - index) for index in range(3_000))
    report = DataDiffReport(environment="pr_7", models=models)

    markdown = render_markdown(report)

    assert len(markdown) <= COMMENT_MAX_CHARACTERS < GITHUB_COMMENT_LIMIT
    sections = [line for line in markdown.splitlines() if line.startswith("### ")]
    assert sections[0] == "### `marts.model_0000` (breaking)", "the biggest change comes first"
    assert 10 < len(sections) < len(models)
    assert "smaller change(s) are in the table above only" in markdown
    assert markdown.rstrip().endswith("more._"), "the models left out are counted"
    assert "more models._" in markdown, "the overview table says how many rows it left out"


def test_one_model_in_full() -> None:
    model = changed_model(1, changed_rows=7)
    report = DataDiffReport(
        environment="pr_7", models=(model,), unchanged_data=(("marts.orders", "metadata only"),)
    )

    markdown = render_markdown(report, deployment_url="https://acme.dagster.cloud/b1")

    assert "Dagster+ branch deployment: https://acme.dagster.cloud/b1" in markdown
    assert "| `marts.model_0001` | breaking | 1,000 → 1,000 | 0 | 0 | 7 | 1 added | 3 |" in markdown
    assert "7 of 10,000 changed" in markdown and "`amount` 7" in markdown
    assert "column `note` added (`TEXT`)" in markdown
    assert "Prod backfill: 3 interval(s) when the merge is applied (2024-01-01 - 2024-01-03)." in (
        markdown
    )
    # A `|` in a value must not break the table.
    assert "| `0` | `1.00` | `2.00 \\| x` |" in markdown
    also = "Also changed, with no data change to compare: `marts.orders` (metadata only)."
    assert also in markdown
    assert "smaller change" not in markdown


def test_no_change() -> None:
    markdown = render_markdown(DataDiffReport(environment="pr_7", models=()))

    assert "No model changes data in `pr_7`." in markdown
    assert "|" not in markdown


def test_a_full_model_is_rebuilt_not_backfilled_interval_by_interval() -> None:
    backfill = Backfill(intervals=1066, dates="2024-01-01 - 2026-11-30", rebuilds_table=True)
    model = dataclasses.replace(changed_model(1, changed_rows=7), backfill=backfill)

    markdown = render_markdown(DataDiffReport(environment="pr_7", models=(model,)))

    assert "| 1 added | full rebuild |" in markdown
    assert "rebuilds the whole table in one query (missing intervals 2024-01-01 - 2026-11-30)" in (
        markdown
    )
    assert "1066" not in markdown and "1,066" not in markdown
