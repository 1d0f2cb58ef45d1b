"""The generated project installs the same versions on any day.

`[tool.uv] exclude-newer` in the rendered pyproject.toml fixes the instant of the package index that
uv resolves against, so the first `uv sync` (which writes uv.lock) gives the same lock tomorrow as
today. Checked on the render, and on the lock the demo's `uv sync` wrote.
"""

from __future__ import annotations

import datetime
import re
import tomllib
from pathlib import Path

import pytest
from projects import Project

UPLOAD_TIME_RE = re.compile(r'upload-time = "([^"]+)"')


def _instant(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _exclude_newer(project: Path) -> datetime.datetime:
    settings = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["uv"]
    return _instant(settings["exclude-newer"])


def test_rendered_project_pins_the_index_instant(default_project: Path) -> None:
    """A fixed instant in the past (a relative one, such as "1 week", would move every day)."""
    instant = _exclude_newer(default_project)
    assert instant.tzinfo is not None
    assert instant <= datetime.datetime.now(datetime.UTC)


@pytest.mark.slow
def test_the_lock_holds_nothing_newer_than_the_pin(project_copy: Project) -> None:
    """The demo's `uv sync` resolved under the pin; the lock still agrees with pyproject.toml."""
    instant = _exclude_newer(project_copy.path)
    lock = (project_copy.path / "uv.lock").read_text()
    assert _instant(tomllib.loads(lock)["options"]["exclude-newer"]) == instant
    uploads = [_instant(found) for found in UPLOAD_TIME_RE.findall(lock)]
    assert uploads, "uv.lock records no upload times"
    assert max(uploads) <= instant
    project_copy.run("uv lock --check")  # resolving again gives exactly this lock
