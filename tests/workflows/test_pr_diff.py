"""The pull request data diff, through the generated scripts, on DuckDB with real SQLMesh.

`scripts/ci/pr-diff.sh` is run the way the pull request workflow runs it, on the `ci` gateway (a
DuckDB file stands in for the warehouse and the state): `prod` is applied from the sample project,
then a pull request environment in which a mart's filter and one column changed, a column was
renamed, another mart lost its grain and a new model was added. The expected numbers are read
from the prod tables, not written down.

`scripts/ci/pr-comment.sh` (the sticky comment) runs against a fake `gh` that keeps the comments
in a JSON file; the real `jq` filters them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from projects import Project
from test_ci_commands import query

PR_ENVIRONMENT = "pr_7"
MARKER = "<!-- sqlmesh-dagster:pr-diff -->"

COUNTRY_CUSTOMERS = """MODEL (
  name marts.country_customers,
  kind FULL,
  owner 'analytics',
  description 'Customers per country.',
  grain country_code,
  audits (unique_values(columns := country_code))
);

SELECT
  country_code, /* ISO 3166-1 alpha-2 country. */
  COUNT(*) AS customer_count /* Customers in that country. */
FROM staging.stg_customers
GROUP BY
  country_code
"""


def change_models(project: Project) -> None:
    """The pull request: edits a user would make (and the unit test they would update)."""
    models = project.sqlmesh_project / "models" / "marts"
    customers = models / "customers.sql"
    text = customers.read_text()
    for old, new in (
        # The filter: customers billed in Great Britain leave the mart.
        (
            "ON order_history.customer_id = customers.customer_id",
            "ON order_history.customer_id = customers.customer_id\n"
            "WHERE\n  customers.country_code <> 'GB'",
        ),
        # One column's values: three orders already make a customer loyal.
        ("order_history.order_count >= 4", "order_history.order_count >= 3"),
        # A schema change: a renamed column.
        ("customers.full_name, /*", "customers.full_name AS customer_name, /*"),
        ("full_name, order_count", "customer_name, order_count"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    customers.write_text(text)

    tests = project.sqlmesh_project / "tests" / "test_marts.yaml"
    head, name, rest = tests.read_text().partition("test_customers_lifetime_value_and_segments:")
    inputs, outputs_key, outputs = rest.partition("  outputs:")
    tests.write_text(
        head + name + inputs + outputs_key + outputs.replace("full_name:", "customer_name:")
    )

    # No grain any more, and a changed query: counts and schema only.
    revenue = models / "daily_revenue.sql"
    text = revenue.read_text()
    assert "  grain revenue_date,\n" in text
    text = text.replace("  grain revenue_date,\n", "")
    text = text.replace("COUNT(*) AS order_count,", "COUNT(*) + 0 AS order_count,")
    revenue.write_text(text)

    (models / "country_customers.sql").write_text(COUNTRY_CUSTOMERS)


def run_script(project: Project, folder: Path, **env: str) -> tuple[str, str]:
    """Runs pr-diff.sh as the workflow does; returns (job summary, comment)."""
    folder.mkdir(parents=True, exist_ok=True)
    summary, comment = folder / "summary.md", folder / "comment.md"
    project.run(
        f"bash scripts/ci/pr-diff.sh {PR_ENVIRONMENT}",
        env={
            "SQLMESH_GATEWAY": "ci",
            "GITHUB_STEP_SUMMARY": str(summary),
            "PR_COMMENT_FILE": str(comment),
            **env,
        },
    )
    return summary.read_text(), comment.read_text()


def section(markdown: str, model: str) -> str:
    match = re.search(rf"^### `{re.escape(model)}` .*?(?=^### |\Z)", markdown, re.M | re.S)
    assert match, f"no section for {model}:\n{markdown}"
    return match.group(0)


@pytest.mark.slow
def test_pr_diff_reports_rows_columns_and_schema(project_copy: Project, tmp_path: Path) -> None:
    project = project_copy
    ci = {"SQLMESH_GATEWAY": "ci"}
    project.run("bash scripts/ci/plan-apply.sh prod", env=ci)
    (prod_rows,) = query(project, "SELECT count(*) FROM marts.customers")[0]
    (british,) = query(project, "SELECT count(*) FROM marts.customers WHERE country_code = 'GB'")[0]
    (three_orders,) = query(
        project,
        "SELECT count(*) FROM marts.customers WHERE country_code <> 'GB' AND order_count = 3",
    )[0]
    (countries,) = query(project, "SELECT count(DISTINCT country_code) FROM staging.stg_customers")[
        0
    ]
    (revenue_days,) = query(project, "SELECT count(*) FROM marts.daily_revenue")[0]
    assert british and three_orders, "the sample data must exercise both changes"

    change_models(project)
    project.run(f"bash scripts/ci/plan-apply.sh {PR_ENVIRONMENT}", env=ci)
    summary, comment = run_script(
        project,
        tmp_path / "with-sample",
        DAGSTER_BRANCH_DEPLOYMENT_URL="https://acme.example/b1",
        PR_DIFF_SAMPLE_ROWS="5",
    )

    assert summary.strip() == comment.strip(), "a small diff fits the comment whole"
    assert summary.startswith(f"## Data diff: `prod` → `{PR_ENVIRONMENT}`")
    assert "Dagster+ branch deployment: https://acme.example/b1" in summary
    pr_rows = prod_rows - british
    # The overview: biggest change first, the row numbers of each model.
    rows = [line for line in summary.splitlines() if line.startswith("| `")]
    assert rows[0].startswith("| `marts.customers` | breaking ⚠️ destructive |"), rows
    assert (
        f"| {prod_rows} → {pr_rows} | {british} | 0 | {three_orders} | 1 added, 1 removed | 0 |"
        in rows[0]
    ), rows[0]

    customers = section(summary, "marts.customers")
    assert f"Rows: {prod_rows} in prod, {pr_rows} in `{PR_ENVIRONMENT}`." in customers
    assert (
        f"Joined on `customer_id`: {british} only in prod, 0 only in `{PR_ENVIRONMENT}`, "
        f"{three_orders} of {pr_rows} changed." in customers
    ), customers
    assert f"Rows that differ, per column: `customer_segment` {three_orders}." in customers
    assert "column `customer_name` added (`TEXT`)" in customers
    assert "column `full_name` removed (`TEXT`)" in customers
    assert "**Destructive**: removes or retypes `full_name`" in customers
    assert "Prod backfill: none" in customers
    assert "Sample of changed rows" in customers and "| `active` | `loyal` |" in customers
    assert "Only in prod, e.g.:" in customers

    revenue = section(summary, "marts.daily_revenue")
    assert "(breaking)" in revenue
    assert f"Rows: {revenue_days} in prod, {revenue_days} in `{PR_ENVIRONMENT}`." in revenue
    assert "No row diff: `marts.daily_revenue` has no `grain` or unique key" in revenue
    assert "Joined on" not in revenue

    new = section(summary, "marts.country_customers")
    assert "(new)" in new and f"Rows: — in prod, {countries} in `{PR_ENVIRONMENT}`." in new
    assert "New in this pull request: row counts only." in new

    # Models the change leaves alone are not in the report.
    assert "`marts.orders`" not in summary and "`staging.stg_customers`" not in summary

    # Sensitive data: no values at all unless PR_DIFF_SAMPLE_ROWS opts in; the numbers stay.
    summary, comment = run_script(project, tmp_path / "no-sample")
    assert "Sample of changed rows" not in comment and "e.g.:" not in comment
    assert "loyal" not in comment
    assert f"{three_orders} of {pr_rows} changed." in comment

    bad = project.run(
        f"bash scripts/ci/pr-diff.sh {PR_ENVIRONMENT}",
        env={**ci, "PR_DIFF_SAMPLE_ROWS": "some"},
        check=False,
    )
    assert bad.returncode != 0 and "PR_DIFF_SAMPLE_ROWS='some' is not a row count" in bad.stderr


@pytest.mark.slow
def test_pr_diff_needs_the_environment_applied(project_copy: Project) -> None:
    result = project_copy.run(
        "bash scripts/ci/pr-diff.sh pr_404", env={"SQLMESH_GATEWAY": "ci"}, check=False
    )
    assert result.returncode == 1
    assert "`pr_404` does not exist" in result.stderr
    assert "bash scripts/ci/plan-apply.sh pr_404" in result.stderr


# A build state as `dg plus deploy start` writes it for a branch deployment (dagster-cloud's own
# model), with the name `deploy finish` gives the branch deployment.
WRITE_BUILD_STATE = """
import sys
from dagster_cloud_cli.commands.ci.state import BuildMetadata, FileStore, LocationState

FileStore(statedir=sys.argv[1]).save(
    LocationState(
        url="https://acme.dagster.cloud",
        deployment_name="7f3e2a1c",
        location_file="dagster_cloud.yaml",
        location_name="acme-data-platform",
        is_branch_deployment=True,
        build=BuildMetadata(git_url=None, commit_hash="abc123", build_config=None),
        status_url=None,
    )
)
"""


@pytest.mark.slow
def test_branch_deployment_url_from_the_build_state(project_copy: Project, tmp_path: Path) -> None:
    """The comment's link: dagster-deploy.sh writes it to the step output from the build state."""
    statedir = tmp_path / "build-state"
    statedir.mkdir()
    script = tmp_path / "write_state.py"
    script.write_text(WRITE_BUILD_STATE)
    project_copy.run(["uv", "run", "--frozen", "python", str(script), str(statedir)])

    result = project_copy.run(
        "bash scripts/ci/branch-deployment-url.sh", env={"DAGSTER_BUILD_STATEDIR": str(statedir)}
    )
    assert result.stdout.strip() == "https://acme.dagster.cloud/7f3e2a1c"

    deploy = (project_copy.path / "scripts" / "ci" / "dagster-deploy.sh").read_text()
    assert 'echo "deployment_url=$(bash scripts/ci/branch-deployment-url.sh)"' in deploy

    unset = project_copy.run(
        "bash scripts/ci/branch-deployment-url.sh", env={"DAGSTER_BUILD_STATEDIR": ""}, check=False
    )
    assert unset.returncode == 1 and "Set DAGSTER_BUILD_STATEDIR" in unset.stderr


# The fake `gh`: `api` calls on a comment store (a JSON file), as GitHub's REST API answers them.
FAKE_GH = r"""#!/usr/bin/env python3
import json, os, sys
store = os.environ["FAKE_GH_STORE"]
comments = json.load(open(store))
args = sys.argv[1:]
assert args[0] == "api", args
method = args[args.index("--method") + 1] if "--method" in args else "GET"
path = next(a for a in args[1:] if a.startswith("repos/"))
with open(store + ".log", "a") as log:
    log.write(f"{method} {path}\n")
if method == "GET":
    # Two pages, as --paginate prints them.
    print(json.dumps(comments[:1]))
    print(json.dumps(comments[1:]))
    sys.exit(0)
body = json.load(sys.stdin)["body"]
if method == "POST":
    bot = {"login": "github-actions[bot]"}
    comments.append({"id": 100 + len(comments), "user": bot, "body": body})
elif method == "PATCH":
    comment_id = int(path.rsplit("/", 1)[1])
    next(c for c in comments if c["id"] == comment_id)["body"] = body
json.dump(comments, open(store, "w"))
"""


def test_one_comment_created_then_updated(default_project: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gh = bin_dir / "gh"
    gh.write_text(FAKE_GH)
    gh.chmod(gh.stat().st_mode | stat.S_IXUSR)
    store = tmp_path / "comments.json"
    # Someone quoting the marker must not have their comment overwritten.
    store.write_text(
        json.dumps([{"id": 1, "user": {"login": "someone"}, "body": f"{MARKER}\nquoted"}])
    )
    markdown = tmp_path / "comment.md"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_GH_STORE": str(store),
        "GH_TOKEN": "test-token",
        "GH_REPO": "acme/platform",
        "GITHUB_PR_NUMBER": "7",
    }

    def comment(text: str) -> subprocess.CompletedProcess[str]:
        markdown.write_text(text)
        return subprocess.run(
            ["bash", "scripts/ci/pr-comment.sh", str(markdown)],
            cwd=default_project,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def post(text: str) -> list[dict[str, Any]]:
        result = comment(text)
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(store.read_text())  # type: ignore[no-any-return]

    comments = post("## Data diff: first push\n")
    assert [c["id"] for c in comments] == [1, 101]
    assert comments[1]["body"] == f"{MARKER}\n## Data diff: first push\n"

    comments = post("## Data diff: second push | with `code`\n")
    assert [c["id"] for c in comments] == [1, 101], "the second push must update, not add"
    assert comments[1]["body"] == f"{MARKER}\n## Data diff: second push | with `code`\n"
    assert comments[0]["body"] == f"{MARKER}\nquoted"
    calls = (tmp_path / "comments.json.log").read_text().splitlines()
    assert calls == [
        "GET repos/acme/platform/issues/7/comments",
        "POST repos/acme/platform/issues/7/comments",
        "GET repos/acme/platform/issues/7/comments",
        "PATCH repos/acme/platform/issues/comments/101",
    ]

    empty = comment("")
    assert empty.returncode == 1 and "No data diff in" in empty.stderr


# What a hostile pull request can make `sqlmesh plan --explain` print: its model names, column
# names and SQL text (its own fences and backtick runs included), and an error with a credential.
HOSTILE_PLAN = """**Summary of differences from `prod`:**

```diff
-  SELECT 1 AS "``` [click](https://evil.example) @acme/admins <img src=x>"
+  SELECT 'password={secret}' AS x
```
`````
</details> # heading
Error: could not connect: {url}
"""


@pytest.mark.slow
def test_plan_preview_masks_and_fences_what_sqlmesh_prints(
    installed_project: Project, tmp_path: Path
) -> None:
    """The plan goes into the job summary masked, inside one fence longer than any run of
    backticks in it (so none of its lines can end the block), whatever SQLMesh prints. SQLMesh is
    replaced by its output here: a `uv` on PATH answers `uv run --frozen sqlmesh` and hands
    everything else to the real uv (the masking runs the project's own code)."""
    secret = "".join(["hun", "ter", "2x"])
    plan = tmp_path / "plan.txt"
    url = "postgresql://app" + ":" + secret + "@db/x"  # split: no URL with a password in the file
    plan.write_text(HOSTILE_PLAN.format(secret=secret, url=url))
    real_uv = shutil.which("uv")
    assert real_uv is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "uv"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        'if [[ "$1 $2 $3" == "run --frozen sqlmesh" ]]; then cat "$FAKE_PLAN"; exit 0; fi\n'
        f'exec "{real_uv}" "$@"\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    summary = tmp_path / "summary.md"
    installed_project.run(
        "bash scripts/ci/plan-preview.sh prod",
        env={
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "FAKE_PLAN": str(plan),
            "SQLMESH_GATEWAY": "ci",
            "GITHUB_STEP_SUMMARY": str(summary),
        },
    )
    text = summary.read_text()
    assert secret not in text and "password=***" in text and "app:***@db" in text
    lines = text.splitlines()
    fences = [index for index, line in enumerate(lines) if re.fullmatch(r"`{3,}", line)]
    first, last = fences[0], fences[-1]
    fence = lines[first]
    assert lines[last] == fence and last == len(lines) - 1, text
    longest = max(len(run) for run in re.findall(r"`+", "\n".join(lines[first + 1 : last])))
    assert len(fence) > longest, "a line of the plan could end the block"
    assert "</details> # heading" in lines[first + 1 : last]
