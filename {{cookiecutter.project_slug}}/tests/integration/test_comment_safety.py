"""The data diff comment is safe to post: hostile names and values stay text, errors are masked.

A pull request controls model names, column names and data values, and through its queries the
text of the errors the diff reports. The comment must show all of them as text: no link, image,
mention, HTML or heading may come out of them, none may close the code span it sits in, and no
credential may survive in error text. Checked on the Markdown that a real diff of a real SQLMesh
project produces (DuckDB), parsed with a CommonMark parser with GitHub's tables (markdown-it-py),
as GitHub parses a comment.
"""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt

from {{ cookiecutter.package_name }}.sqlmesh_integration.connection.context import open_context
from {{ cookiecutter.package_name }}.sqlmesh_integration.pr_diff.collect import collect_data_diff
from {{ cookiecutter.package_name }}.sqlmesh_integration.pr_diff.markdown import (
    code,
    render_markdown,
)
from {{ cookiecutter.package_name }}.sqlmesh_integration.pr_diff.report import (
    Backfill,
    ColumnChange,
    DataDiffReport,
    ModelDiff,
    Sample,
)

from ..support import SampleProject
from .test_masking import SECRET, SHAPES

# Markdown a hostile name or value tries: a link, an image, a mention, HTML, a heading, and the
# backticks and fences that would end the code span around it.
HOSTILE = (
    "x`` ```[a](https://evil.example/l) ![i](https://evil.example/i) @acme/admins <b>b</b> # h"
)
HOSTILE_MODEL = 'marts."ev`il](https://evil.example/m) @acme/admins <b>x</b>"'
HOSTILE_COLUMN = "co`l](https://evil.example/c) @acme/team <img src=x>"
# The report's own HTML: the sample's <details> block.
OWN_HTML = re.compile(r"^</?(details|summary)>|^<details><summary>[\w ()]+</summary>$")
MENTION = re.compile(r"(?<![\w`])@[A-Za-z0-9][\w/-]*")


def unsafe_markdown(markdown: str) -> list[str]:
    """What GitHub would render from `markdown` as something other than text and code: links,
    images, HTML other than the report's own, mentions and URLs outside code, headings that are
    not the report's (`## Data diff`, `### <model>`)."""
    parser = MarkdownIt("commonmark", {"html": True}).enable("table")
    problems = []
    for token in parser.parse(markdown):
        if token.type == "html_block" and not all(
            OWN_HTML.match(line) for line in token.content.strip().splitlines()
        ):
            problems.append(f"HTML block: {token.content!r}")
        if token.type == "heading_open" and token.tag not in ("h2", "h3"):
            problems.append(f"heading {token.tag}: {token.map}")
        for child in token.children or []:
            if child.type in ("link_open", "image"):
                problems.append(f"{child.type}: {child.attrs}")
            elif child.type == "html_inline" and not OWN_HTML.match(child.content):
                problems.append(f"HTML: {child.content!r}")
            elif child.type == "text" and (
                MENTION.search(child.content) or "evil.example" in child.content
            ):
                problems.append(f"text outside code: {child.content!r}")
    return problems


def code_spans(markdown: str) -> list[str]:
    parser = MarkdownIt("commonmark", {"html": True}).enable("table")
    return [
        child.content
        for token in parser.parse(markdown)
        for child in token.children or []
        if child.type == "code_inline"
    ]


def test_the_check_finds_what_github_would_render() -> None:
    found = unsafe_markdown(f"{HOSTILE}\n\n<script>x</script>\n\n#### h\n")
    kinds = " ".join(found)
    for kind in ("link_open", "image", "HTML: '<b>'", "HTML block", "heading h4", "outside code"):
        assert kind in kinds, found


def test_a_code_span_holds_anything_on_one_line() -> None:
    for text in (HOSTILE, HOSTILE_MODEL, HOSTILE_COLUMN, "`", "``a``", "a\n\nb", ""):
        span = code(text)
        assert "\n" not in span
        assert unsafe_markdown(f"Model {span} changed.") == [], span
        (content,) = code_spans(f"Model {span} changed.")
        assert content.strip() == " ".join(text.split()).strip()
    assert unsafe_markdown(f"| a |\n| --- |\n| {code('x | y', in_table=True)} |") == []


def test_every_field_of_the_report_stays_text() -> None:
    model = ModelDiff(
        name=HOSTILE,
        change="breaking",
        backfill=Backfill(intervals=3, dates="2024-01-01 - 2024-01-03", rebuilds_table=False),
        prod_rows=5,
        pull_request_rows=5,
        grain=(HOSTILE_COLUMN,),
        rows_only_in_prod=1,
        rows_only_in_pull_request=1,
        rows_changed=1,
        rows_compared=4,
        differing_columns=((HOSTILE_COLUMN, 1),),
        schema_changes=(
            ColumnChange(HOSTILE_COLUMN, None, f'STRUCT("{HOSTILE}" INT)'),
            ColumnChange(HOSTILE, "TEXT", None),
        ),
        changed_sample=Sample(headers=(HOSTILE_COLUMN, HOSTILE), rows=((HOSTILE, HOSTILE),)),
        only_in_prod_keys=(HOSTILE,),
        only_in_pull_request_keys=(HOSTILE,),
        compared_range=f"{code(HOSTILE_COLUMN)} {code(HOSTILE)} to {code(HOSTILE)}",
    )
    report = DataDiffReport(
        environment="pr_7",
        models=(model,) * 3,
        unchanged_data=((HOSTILE_MODEL, "metadata only"),),
    )
    for markdown in (
        render_markdown(report, deployment_url=HOSTILE),
        render_markdown(report, max_characters=3_000),  # sections left out, named in one line
    ):
        assert unsafe_markdown(markdown) == [], markdown
        assert any("evil.example" in span for span in code_spans(markdown))


LEAKY_VIEW = """MODEL (
  name marts.leaky,
  kind VIEW,
  owner 'analytics',
  description 'Fails when read, with credentials in the error.'
);

SELECT
  customer_id /* Key. */
FROM staging.stg_customers
WHERE
  ERROR({message}) IS NULL
"""

HOSTILE_SQL_MODEL = f"""MODEL (
  name {HOSTILE_MODEL},
  kind FULL,
  owner 'analytics',
  description 'A model whose names a pull request chose.',
  grain id,
  audits (unique_values(columns := id))
);

SELECT
  customer_id AS id, /* Key. */
  email AS "{HOSTILE_COLUMN}" /* A column with a hostile name. */
FROM staging.stg_customers
"""


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@pytest.mark.slow
def test_a_real_diff_with_hostile_names_and_a_leaking_error(sample: SampleProject) -> None:
    marts = sample.models_dir / "marts"
    (marts / "hostile.sql").write_text(HOSTILE_SQL_MODEL)
    sample.plan(skip_backfill=False)
    # The pull request: the hostile model's values change to hostile text, and a new model fails
    # when the diff reads it, with every credential shape and hostile Markdown in its error.
    (marts / "hostile.sql").write_text(
        HOSTILE_SQL_MODEL.replace(
            f'email AS "{HOSTILE_COLUMN}"', f'{sql_string(HOSTILE)} || email AS "{HOSTILE_COLUMN}"'
        )
    )
    secrets = " ".join(shape[1].replace("\n", " ") for shape in SHAPES)
    message = sql_string(f"{HOSTILE} {secrets}")
    (marts / "leaky.sql").write_text(LEAKY_VIEW.format(message=message))
    context = open_context(sample.project)
    try:
        # (No audit on the failing view: the plan's audits would read it; so no linter either.)
        context.plan(
            "pr_1",
            auto_apply=True,
            no_prompts=True,
            skip_tests=True,
            skip_linter=True,
            include_unmodified=True,
        )
        report = collect_data_diff(context, "pr_1", sample_rows=3)
    finally:
        context.close()
    markdown = render_markdown(report, deployment_url="https://acme.dagster.cloud/pr-1")

    by_name = {model.name: model for model in report.models}
    hostile_name = next(name for name in by_name if "evil.example/m" in name)
    assert by_name[hostile_name].rows_changed and by_name[hostile_name].changed_sample
    assert "The diff failed" in " ".join(by_name["marts.leaky"].notes)
    assert unsafe_markdown(markdown) == [], markdown
    headings = [line for line in markdown.splitlines() if line.startswith("### ")]
    assert len(headings) == len(report.models), "a name or value ended a span or a section"
    spans = " ".join(code_spans(markdown))
    assert "evil.example/l" in spans and "password=***" in spans, "the hostile text is shown"
    assert SECRET not in markdown
