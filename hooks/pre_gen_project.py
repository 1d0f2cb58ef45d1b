"""Validate every cookiecutter input before anything is rendered.

Cookiecutter renders this file with Jinja and runs it with the new (still empty) project directory
as the working directory. Any rejected input exits 1 with ONE sentence naming the variable, the
value and what to change; cookiecutter then deletes the project directory, so nothing is left on
disk.

The checks are plain functions of plain values, so the template's tests import this file by path
(`tests/render/test_hooks.py`) and call them directly. Only `main()` touches the rendered
context.
"""

from __future__ import annotations

import json
import keyword
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

# Choice lists: default first, exactly as in cookiecutter.json (a test keeps the two equal).
# cookiecutter checks extra_context against them, but a replay file (`--replay-file`) can pass any
# value, so the hook checks them too.
SUPPORTED: dict[str, tuple[str, ...]] = {
    "python_version": ("3.12", "3.11", "3.13"),
    "warehouse": ("motherduck", "postgres", "snowflake", "bigquery", "databricks"),
    "dagster_plus_deployment": ("serverless", "hybrid"),
}

# The ONE table of option combinations the template refuses: {(variable, value), ...} -> reason.
# Empty on purpose: every python_version x warehouse x dagster_plus_deployment combination installs
# (checked on 2026-11-26 with `uv pip install` of dagster 1.13.27, dagster-cloud 1.13.27 and
# sqlmesh[snowflake,bigquery,databricks] 0.236.4 on CPython 3.11, 3.12 and 3.13), and every
# warehouse's render passes its own quickstart, `check-definitions.sh` and tests without
# credentials (tests/render/test_options.py, on 3.11 and 3.13 renders, both deployments). Add an
# entry when a connector stops installing on a Python version, for example:
#   frozenset({("python_version", "3.13"), ("warehouse", "databricks")}):
#       "databricks-sql-connector has no wheels for Python 3.13 yet",
UNSUPPORTED_COMBINATIONS: dict[frozenset[tuple[str, str]], str] = {}

# Importable names a generated package must not take: it would shadow them on sys.path (the package
# is installed in editable mode and `src/` layouts still put it first), or collide with folders the
# generated project already has. The standard library is added below from sys.stdlib_module_names.
# fmt: off
SHADOWED_PACKAGES = frozenset(
    {
        # the stack the generated project imports
        "dagster", "dagster_cloud", "dagster_webserver", "dagster_graphql", "dagster_pipes",
        "dagster_shared", "dagster_dg_cli", "dagster_dg_core", "dg",
        "sqlmesh", "sqlglot", "duckdb", "pandas", "numpy", "pyarrow", "pydantic",
        "psycopg2", "sqlalchemy", "snowflake", "google", "databricks", "motherduck",
        # dev tools
        "pytest", "xdist", "execnet", "tox", "ruff", "mypy", "pre_commit", "hatchling",
        "setuptools", "pip", "uv",
        # folders and names of the generated project and common ambiguous names
        "src", "test", "tests", "docs", "scripts", "deploy", "build", "dist", "site",
        "definitions", "defs", "sqlmesh_project", "sqlmesh_integration", "config", "models",
    }
)
# fmt: on


def reserved_package_names() -> frozenset[str]:
    """Return the names a package may not take: the stack, dev tools and the standard library."""
    return SHADOWED_PACKAGES | frozenset(getattr(sys, "stdlib_module_names", ()))


SLUG_RE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
PACKAGE_RE = re.compile(r"[a-z][a-z0-9_]*")
# GitHub: owner is 1-39 alphanumerics or single hyphens; repository is letters, digits, . _ -.
GITHUB_REPOSITORY_RE = re.compile(r"[A-Za-z0-9](?:-?[A-Za-z0-9]){0,38}/[A-Za-z0-9._-]{1,100}")
EMAIL_RE = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
# Characters that would break the TOML, YAML and Markdown files these values are written into.
UNSAFE_TEXT_RE = re.compile(r'["\\\x00-\x1f\x7f{}]')


class InvalidInput(ValueError):
    """One rejected input; str() is the one sentence shown to the user."""


def check_project_name(value: str) -> None:
    """Reject an empty project name or one that would break the files it is written into."""
    if not value.strip():
        raise InvalidInput(
            "project_name is empty; give the project a name, e.g. 'Acme Data Platform'."
        )
    _check_text("project_name", value)


def _check_text(variable: str, value: str) -> None:
    if UNSAFE_TEXT_RE.search(value):
        raise InvalidInput(
            f"{variable} {value!r} contains a quote, backslash, brace or control character; "
            "remove it (these values are written into TOML, YAML and Markdown files)."
        )


def check_project_slug(value: str) -> None:
    """Reject slugs that are not a plain lowercase directory and distribution name."""
    problem = ""
    if not value:
        problem = "is empty"
    elif "/" in value or "\\" in value or value in {".", ".."}:
        problem = "contains a path separator"
    elif not value.isascii():
        problem = "contains non-ASCII characters"
    elif any(c.isspace() for c in value):
        problem = "contains whitespace"
    elif value != value.lower():
        problem = "contains uppercase letters"
    elif value[0].isdigit():
        problem = "starts with a digit"
    elif not SLUG_RE.fullmatch(value):
        problem = "is not lowercase words joined by single hyphens"
    if problem:
        raise InvalidInput(
            f"project_slug {value!r} {problem}; set project_slug to lowercase ASCII letters, "
            "digits and single hyphens starting with a letter, e.g. 'acme-data-platform'."
        )


def check_package_name(value: str) -> None:
    """Reject package names that are not importable, are keywords or shadow another package."""
    fix = "set package_name to a lowercase identifier of your own, e.g. 'acme_data_platform'"
    if not value.isascii() or not PACKAGE_RE.fullmatch(value) or not value.isidentifier():
        raise InvalidInput(
            f"package_name {value!r} is not a lowercase ASCII Python identifier starting with a "
            f"letter; {fix}."
        )
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        raise InvalidInput(f"package_name {value!r} is a Python keyword; {fix}.")
    if value in reserved_package_names():
        raise InvalidInput(
            f"package_name {value!r} would shadow the {value!r} package or folder; {fix}."
        )


def check_github_repository(value: str) -> None:
    """Require `owner/name` as GitHub spells it."""
    _owner, _, name = value.partition("/")
    if not GITHUB_REPOSITORY_RE.fullmatch(value) or name in {".", ".."}:
        raise InvalidInput(
            f"github_repository {value!r} is not of the form owner/name; set it to your GitHub "
            "organisation and repository, e.g. 'acme/acme-data-platform'."
        )


def check_author_email(value: str) -> None:
    """Require one plausible e-mail address."""
    if not EMAIL_RE.fullmatch(value):
        raise InvalidInput(
            f"author_email {value!r} is not an e-mail address; set it to one address such as "
            "'data-platform@example.com'."
        )


def check_choice(variable: str, value: str) -> None:
    """Reject a value that is not in the variable's supported list."""
    supported = SUPPORTED[variable]
    if value not in supported:
        raise InvalidInput(
            f"{variable} {value!r} is not supported; choose one of {', '.join(supported)}."
        )


def check_combination(
    context: Mapping[str, str],
    unsupported: Mapping[frozenset[tuple[str, str]], str] = UNSUPPORTED_COMBINATIONS,
) -> None:
    """Reject the option combinations listed in UNSUPPORTED_COMBINATIONS."""
    chosen = {(key, str(value)) for key, value in context.items() if key in SUPPORTED}
    for combination, reason in unsupported.items():
        if combination <= chosen:
            pairs = " with ".join(f"{key}={value!r}" for key, value in sorted(combination))
            raise InvalidInput(
                f"{pairs} is not supported because {reason}; change one of these options."
            )


def validate(context: Mapping[str, str]) -> None:
    """Run every check on a cookiecutter context; raise InvalidInput at the first bad value."""
    check_project_name(context["project_name"])
    check_project_slug(context["project_slug"])
    check_package_name(context["package_name"])
    _check_text("description", context["description"])
    _check_text("author_name", context["author_name"])
    check_author_email(context["author_email"])
    check_github_repository(context["github_repository"])
    for variable in SUPPORTED:
        check_choice(variable, context[variable])
    check_combination(context)


def created_parents(output_dir: Path, project_slug: str) -> list[Path]:
    """Return the folders cookiecutter may have created above the project folder, deepest first.

    For project_slug 'a/b' cookiecutter creates <output>/a/b and, on failure, deletes only
    <output>/a/b. Only folders strictly inside output_dir are returned: a slug such as
    '../elsewhere/x' never leads to a folder outside it (or output_dir itself) being touched.
    """
    parts = Path(project_slug.replace("\\", "/")).parts
    root = output_dir.resolve()
    candidates = [output_dir.joinpath(*parts[:i]) for i in range(len(parts) - 1, 0, -1)]
    return [
        path
        for path in candidates
        if path.name not in {"", ".", ".."}
        and path.resolve() != root
        and path.resolve().is_relative_to(root)
    ]


def remove_created_parents(project_dir: Path, parents: list[Path]) -> None:
    """Remove `parents` once cookiecutter has deleted project_dir, if they are empty by then.

    The hook runs before cookiecutter deletes the project folder, so a detached helper waits for
    that (at most 30 s), then removes the empty parents, and a rejected slug leaves nothing on disk.
    """
    if not parents:
        return
    script = (
        "import os, sys, time\n"
        "project, parents = sys.argv[1], sys.argv[2:]\n"
        "for _ in range(600):\n"
        "    if not os.path.lexists(project):\n"
        "        break\n"
        "    time.sleep(0.05)\n"
        "for parent in parents:\n"
        "    try:\n"
        "        os.rmdir(parent)\n"
        "    except OSError:\n"
        "        pass\n"
    )
    subprocess.Popen(  # a fixed script; the paths are arguments
        [sys.executable, "-c", script, str(project_dir), *map(str, parents)],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main(context: Mapping[str, str]) -> int:
    """Validate the rendered context; print one sentence and return 1 on a bad input."""
    try:
        validate(context)
    except InvalidInput as error:
        print(f"ERROR: {error}", file=sys.stderr)
        if "_output_dir" in context:
            parents = created_parents(Path(context["_output_dir"]), context["project_slug"])
            remove_created_parents(Path(os.getcwd()), parents)
        return 1
    return 0


# Cookiecutter replaces the placeholder with the whole context as JSON. JSON escapes quotes and
# backslashes, so any input value survives; left unrendered (when a test imports this file) the
# string is simply not used.
RENDERED_CONTEXT = r"""{{ cookiecutter | tojson }}"""

if __name__ == "__main__":
    sys.exit(main(json.loads(RENDERED_CONTEXT)))
