"""The Markdown of a pull request's data diff (`report.py`), within a size budget.

Everything in the report that comes from outside this module (model, column and environment names,
SQL types, cell values, error text) is written as an inline code span by `code()`: masked
(`errors.mask_secrets`), on one line, and fenced so that nothing in it can close the span. Inside a
code span GitHub renders no link, image, mention, emphasis or HTML, so a hostile model or column
name cannot inject Markdown into the comment.

GitHub refuses a pull request comment longer than 65,536 characters. The report opens with one
table row per model, biggest change first, then a section per model as long as the budget lasts;
the models that do not fit are summarised in one line. The job summary gets the same text with a
larger budget.

Example:
    >>> from .data_diff_report import DataDiffReport
    >>> print(render_markdown(DataDiffReport(environment="pr_7", models=())).splitlines()[0])
    ## Data diff: `prod` → `pr_7`
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from ..errors import mask_secrets
from .report import DataDiffReport, ModelDiff, Sample

# GitHub's limit for a comment body, less room for the marker the workflow adds.
COMMENT_MAX_CHARACTERS = 65_536 - 1_536
# GitHub's limit for one step's job summary is 1 MiB.
SUMMARY_MAX_CHARACTERS = 1_000_000


_BACKTICK_RUN = re.compile(r"`+")
# A URL the head may link as it is: the branch deployment's address, from Dagster+'s own output.
_PLAIN_URL = re.compile(r"https://[\w.-]+(?::\d+)?(?:/[\w./%~+-]*)?")


def code(text: object, *, in_table: bool = False) -> str:
    """`text` as one inline code span, safe to put anywhere in the comment.

    The text is masked (`mask_secrets`) and put on one line (a line break would end a table row, a
    blank line the span); the span's fence is one backtick longer than any run of backticks in it,
    so no backtick in the text can close it. In a table cell a `|` is escaped, since GitHub splits
    cells on it even inside a code span.

    Example:
        >>> code("marts.orders")
        '`marts.orders`'
        >>> code("a`b [x](https://e.com) @team")
        '``a`b [x](https://e.com) @team``'
    """
    value = " ".join(mask_secrets(str(text)).split())
    if in_table:
        value = value.replace("|", "\\|")
    runs = [len(run) for run in _BACKTICK_RUN.findall(value)]
    fence = "`" * (max(runs, default=0) + 1)
    if value.startswith("`") or value.endswith("`") or not value:
        value = f" {value} "
    return f"{fence}{value}{fence}"


def render_markdown(
    report: DataDiffReport,
    *,
    max_characters: int = COMMENT_MAX_CHARACTERS,
    deployment_url: str | None = None,
    sample_switch: str = "PR_DIFF_SAMPLE_ROWS=0",
) -> str:
    """Returns the report as Markdown of at most `max_characters` characters.

    Args:
        report: The data diff.
        max_characters: The size budget.
        deployment_url: The Dagster+ branch deployment to link, if known.
        sample_switch: How to switch the row samples off (named under each sample).
    """
    head = _head(report, deployment_url)
    overview = _overview(report)
    footer = _footer(report)
    budget = max_characters - len(head) - len(footer)
    overview_text = _fit_lines(overview, budget // 2, "models")
    budget -= len(overview_text)
    sections: list[str] = []
    left_out: list[ModelDiff] = []
    for model in report.models:
        section = _section(model, report.environment, sample_switch)
        if not left_out and len(section) <= budget - 300:
            sections.append(section)
            budget -= len(section)
        else:
            left_out.append(model)
    if left_out:
        sections.append(_left_out_line(left_out, budget))
    return head + overview_text + "".join(sections) + footer


def _left_out_line(models: Sequence[ModelDiff], budget: int) -> str:
    """Names the models without a section, as many as fit, and counts the others."""
    line = (
        f"\n_{len(models)} smaller change(s) are in the table above only, to stay under GitHub's "
        "comment size limit:"
    )
    for index, model in enumerate(models):
        name = f" {code(model.name)}" + ("," if index < len(models) - 1 else "")
        if len(line) + len(name) + 40 > budget:
            return line + f" and {len(models) - index} more._\n"
        line += name
    return line + "_\n"


def _head(report: DataDiffReport, deployment_url: str | None) -> str:
    environment = code(report.environment)
    lines = [f"## Data diff: `prod` → {environment}", ""]
    if deployment_url:
        url = deployment_url if _PLAIN_URL.fullmatch(deployment_url) else code(deployment_url)
        lines += [f"Dagster+ branch deployment: {url}", ""]
    changed = len(report.models)
    if changed:
        lines.append(
            f"{changed} model(s) change data. SQLMesh's table diff compares each model in `prod` "
            f"with {environment} on the model's grain; the change categories and the "
            "backfill come from the plan the merge will apply to `prod`."
        )
    else:
        lines.append(f"No model changes data in {environment}.")
    lines += [f"> {note}" for note in report.notes]
    lines.append("")
    return "\n".join(lines) + "\n"


def _overview(report: DataDiffReport) -> list[str]:
    if not report.models:
        return []
    environment = code(report.environment, in_table=True)
    header = [
        f"| Model | Change | Rows prod → {environment} | Only in prod | Only in {environment} "
        "| Changed | Schema | Prod backfill (intervals) |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    rows = []
    for model in report.models:
        change = model.change + (" ⚠️ destructive" if model.destructive_columns else "")
        rows.append(
            f"| {code(model.name, in_table=True)} | {change} | {_number(model.prod_rows)} → "
            f"{_number(model.pull_request_rows)} | {_number(model.rows_only_in_prod)} | "
            f"{_number(model.rows_only_in_pull_request)} | {_number(model.rows_changed)} | "
            f"{_schema_summary(model)} | {_backfill_cell(model)} |"
        )
    return header + rows


def _section(model: ModelDiff, environment: str, sample_switch: str) -> str:
    environment = code(environment)
    lines = ["", f"### {code(model.name)} ({model.change})", ""]
    if model.destructive_columns:
        columns = ", ".join(code(name) for name in model.destructive_columns)
        lines.append(
            f"- ⚠️ **Destructive**: removes or retypes {columns}; queries and dashboards reading "
            "them from prod break after the merge."
        )
    within = f" (within {model.compared_range})" if model.compared_range else ""
    lines.append(
        f"- Rows{within}: {_number(model.prod_rows)} in prod, "
        f"{_number(model.pull_request_rows)} in {environment}."
    )
    if model.rows_compared is not None:
        grain = ", ".join(code(column) for column in model.grain)
        lines.append(
            f"- Joined on {grain}: {_number(model.rows_only_in_prod)} only in prod, "
            f"{_number(model.rows_only_in_pull_request)} only in {environment}, "
            f"{_number(model.rows_changed)} of {_number(model.rows_compared)} changed."
        )
    if model.differing_columns:
        columns = ", ".join(f"{code(name)} {count:,}" for name, count in model.differing_columns)
        lines.append(f"- Rows that differ, per column: {columns}.")
    for change in model.schema_changes:
        column = code(change.name)
        if change.kind == "added":
            lines.append(f"- Schema: column {column} added ({code(change.pull_request_type)}).")
        elif change.kind == "removed":
            lines.append(f"- Schema: column {column} removed ({code(change.prod_type)}).")
        else:
            lines.append(
                f"- Schema: column {column} changes type, {code(change.prod_type)} → "
                f"{code(change.pull_request_type)}."
            )
    lines.append(_backfill_line(model, environment))
    lines += [f"- {note}" for note in model.notes]
    samples = _samples(model, environment, sample_switch)
    return "\n".join(lines + samples) + "\n"


def _backfill_cell(model: ModelDiff) -> str:
    if model.backfill.rebuilds_table:
        return "full rebuild"
    return str(model.backfill.intervals)


def _backfill_line(model: ModelDiff, environment: str) -> str:
    backfill = model.backfill
    if model.change == "removed":
        return "- Prod backfill: none (the model is removed)."
    if backfill.intervals == 0 and model.change == "forward-only":
        return "- Prod backfill: none; the merge keeps prod's table and the rows in it."
    if backfill.intervals == 0:
        return (
            f"- Prod backfill: none; the merge reuses the tables {environment} computed "
            "(or the model has no interval due)."
        )
    if backfill.rebuilds_table:
        return (
            f"- Prod backfill: the merge rebuilds the whole table in one query (missing "
            f"intervals {backfill.dates})."
        )
    return (
        f"- Prod backfill: {backfill.intervals:,} interval(s) when the merge is applied "
        f"({backfill.dates})."
    )


def _samples(model: ModelDiff, environment: str, sample_switch: str) -> list[str]:
    lines: list[str] = []
    if model.only_in_prod_keys:
        lines.append(f"- Only in prod, e.g.: {_keys(model.only_in_prod_keys)}")
    if model.only_in_pull_request_keys:
        lines.append(f"- Only in {environment}, e.g.: {_keys(model.only_in_pull_request_keys)}")
    if model.changed_sample is not None:
        lines += [
            "",
            f"<details><summary>Sample of changed rows ({len(model.changed_sample.rows)})"
            "</summary>",
            "",
            *_table(model.changed_sample),
            "",
            f"Switch samples off for sensitive data with `{sample_switch}`.",
            "</details>",
        ]
    return lines


def _footer(report: DataDiffReport) -> str:
    if not report.unchanged_data:
        return ""
    names = ", ".join(f"{code(name)} ({change})" for name, change in report.unchanged_data)
    return f"\nAlso changed, with no data change to compare: {names}.\n"


def _table(sample: Sample) -> list[str]:
    lines = [
        "| " + " | ".join(code(header, in_table=True) for header in sample.headers) + " |",
        "|" + " --- |" * len(sample.headers),
    ]
    lines += [
        "| " + " | ".join(code(cell, in_table=True) for cell in row) + " |" for row in sample.rows
    ]
    return lines


def _keys(keys: Iterable[str]) -> str:
    return ", ".join(code(key) for key in keys)


def _schema_summary(model: ModelDiff) -> str:
    if not model.schema_changes:
        return ""
    counts = {"added": 0, "removed": 0, "retyped": 0}
    for change in model.schema_changes:
        counts[change.kind] += 1
    parts = [f"{count} {kind}" for kind, count in counts.items() if count]
    return ", ".join(parts)


def _fit_lines(lines: Sequence[str], budget: int, noun: str) -> str:
    """The lines that fit in `budget` characters, and a line counting the rest."""
    kept: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        if used + len(line) + 1 > budget - 80:
            kept.append(f"\n_…and {len(lines) - index} more {noun}._")
            break
        kept.append(line)
        used += len(line) + 1
    return "\n".join(kept) + ("\n" if kept else "")


def _number(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"
