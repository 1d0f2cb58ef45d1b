"""No variant commits a credential: every one reads them from the environment or CI secrets.

Complements test_render.py::test_no_credential_like_strings (the detect-secrets scan the commit
hooks run) with explicit patterns, the git-ignore rules for `.env` and DuckDB files, `.env.example`
and the secret-scanning commit hooks. The pre-gen hook's rejection of bad inputs (more than ten
kinds, one sentence each, nothing left on disk) is tested in test_hooks.py.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from rendering import SUPPORTED_COMBINATIONS, Combination, text_files

COMBINATIONS = [pytest.param(c, id=c.id) for c in SUPPORTED_COMBINATIONS]

# Credential formats that must never appear in a committed file, whatever its type.
CREDENTIAL_PATTERNS = {
    "private key block": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "Databricks token": re.compile(r"\bdapi[0-9a-f]{32}\b"),
    "URL with a password": re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"),
}
# A setting whose name says it holds a credential, in a config-like file: `password: ...`,
# `MOTHERDUCK_TOKEN=...`, `access_token = ...`.
CREDENTIAL_SETTING = re.compile(
    r"""^\s*-?\s*["']?(?P<key>[A-Za-z0-9_.-]*(?:password|passwd|secret|token|api_key|apikey"""
    r"""|access_key|private_key|credentials)[A-Za-z0-9_.-]*)["']?\s*[:=]\s*(?P<value>.*)$""",
    re.IGNORECASE,
)
# Where a credential setting may take its value from: the environment or the CI's secret store.
REFERENCE = re.compile(
    r"""env_var\(|\$\{\{\s*(?:secrets|env|vars|steps|needs|inputs|github)\.|\$\{?[A-Z_][A-Z0-9_]*\}?"""
    r"""|os\.environ|getenv\("""
)
CONFIG_SUFFIXES = {".yaml", ".yml", ".toml", ".ini", ".cfg", ".json", ".sh", ".env", ".example"}
CONFIG_NAMES = {"Dockerfile", ".env.example", ".dockerignore"}


def literal_credentials(path: Path, text: str) -> list[str]:
    """Credential settings in a config-like file whose value is a literal."""
    found = []
    example = path.name == ".env.example"
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("#"):
            continue
        match = CREDENTIAL_SETTING.match(line)
        if not match:
            continue
        value = match.group("value").split(" #", 1)[0].strip().strip("\"'")
        if value in {"", "|", ">", ">-", "{}", "[]", "null", "None", "true", "false"}:
            continue  # empty, or a nested block (its own lines are checked)
        if REFERENCE.search(value):
            continue
        if example and (value.startswith("replace-with-") or value.startswith("/path/to/")):
            continue  # .env.example placeholders
        found.append(f"{path.name}:{number}: {line.strip()}")
    return found


@pytest.mark.parametrize("combination", COMBINATIONS)
def test_no_credential_is_committed(
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    project = render_project(combination)
    findings = []
    for relative, text in text_files(project):
        for kind, pattern in CREDENTIAL_PATTERNS.items():
            if pattern.search(text):
                findings.append(f"{relative}: {kind}")
        if relative.suffix in CONFIG_SUFFIXES or relative.name in CONFIG_NAMES:
            findings.extend(
                f"{relative.parent}/{item}"
                for item in literal_credentials(project / relative, text)
            )
    assert findings == []


def test_the_setting_scan_is_not_vacuous(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    secret = "".join(["hun", "ter", "2"])  # built at run time: no credential-like literal here
    text = (
        f"password: \"{{{{ env_var('PG_PASSWORD') }}}}\"\n"
        "token: ${{ secrets.TOKEN }}\n"
        f"password: {secret}\n"
        f"MOTHERDUCK_TOKEN={secret}\n"
    )
    config.write_text(text)
    assert [item.split(": ", 1)[1] for item in literal_credentials(config, text)] == [
        f"password: {secret}",
        f"MOTHERDUCK_TOKEN={secret}",
    ]
    key = "-----BEGIN RSA " + "PRIVATE KEY-----"
    assert CREDENTIAL_PATTERNS["private key block"].search(key)
    assert CREDENTIAL_PATTERNS["AWS access key id"].search("AKIA" + "ABCDEFGHIJKLMNOP")


def ignored(rules: list[str], name: str) -> bool:
    """Whether a file named `name` in the repository root is ignored (git's rules, simplified)."""
    result = False
    for rule in rules:
        negate = rule.startswith("!")
        pattern = rule[1:] if negate else rule
        if pattern.endswith("/"):
            continue  # folder rules
        if fnmatch.fnmatchcase(name, pattern.lstrip("/")):
            result = not negate
    return result


@pytest.mark.parametrize("combination", COMBINATIONS)
def test_env_and_duckdb_files_are_ignored_and_env_example_ships(
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    project = render_project(combination)
    rules = [
        line.strip()
        for line in (project / ".gitignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for name in (".env", ".env.local", "local.duckdb", "ci.duckdb", "local.duckdb.wal"):
        assert ignored(rules, name), f"{name} must be git-ignored"
    assert ignored(rules, "local.duckdb.lock")
    assert not ignored(rules, ".env.example")
    assert (project / ".env.example").is_file()
    assert not (project / ".env").exists()
    assert not list(project.glob("*.duckdb*"))


@pytest.mark.parametrize("combination", COMBINATIONS)
def test_commit_hooks_detect_private_keys_and_scan_for_secrets(
    combination: Combination, render_project: Callable[[Combination], Path]
) -> None:
    project = render_project(combination)
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert "detect-private-key" in hooks
    scanners = {"detect-secrets", "gitleaks", "trufflehog"} & set(hooks)
    assert scanners, "a secret scanner must run on every commit"
    for name in scanners:
        # Every file but .cruft.json, whose template commit hash reads as a hex secret
        # (test_render.py checks that the exclusion matches that file alone).
        excluded = hooks[name].get("exclude")
        assert excluded in (None, r"^\.cruft\.json$"), f"{name} must scan every file"
