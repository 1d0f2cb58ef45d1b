"""Commands in the READMEs, and the record of which ones the tests ran.

Convention (stated in both READMEs): every line of a ```bash block is a command the user runs, and a
test runs it; snippets not meant to be run as-is go in ```text blocks. A test that runs a README
command records it here (the `installed_project.run` helper does so), and test_readme_commands.py
runs whatever no other test ran, so every command is covered once per test run (on any xdist
worker: conftest points RECORD_FILE at a file they share).

A command counts as covered only when the test that ran it passed: `record` keeps it pending, and
conftest's report hook calls `settle` after each phase of a test (a fixture's commands count when
the setup passed, a test's when its call passed); a failed or skipped phase drops them.

A command counts only where its README means it: each is recorded with where it ran (`TEMPLATE`
for the template README's commands; for a rendered project, which render, which SQLMesh project
and which gateway: `projects.Project.coverage_context`), and the README's test asks for its own
context. The same text run on another warehouse's render, on the kitchen-sink project or on the
`ci` gateway does not cover the generated README's command.
"""

from __future__ import annotations

import re
from pathlib import Path

BASH_BLOCK_RE = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)

# Where the commands run so far are listed, one per line; set by conftest to a file every xdist
# worker of the test run shares, so a command run on one worker counts on all.
RECORD_FILE: Path | None = None
_EXECUTED: list[str] = []  # without a RECORD_FILE (this module used on its own)
_PENDING: list[str] = []  # run by the running test phase; they count once it passed (settle)

# The template README's demo command (run once per test run by the `installed_project` fixture).
DEMO_COMMAND = "bash scripts/demo.sh"
# Where the template README's commands run: the template's own folder.
TEMPLATE = "the template"


def normalize(command: str) -> str:
    """One spelling per command: single spaces, no line continuations."""
    return " ".join(command.replace("\\\n", " ").split())


def bash_blocks(readme: Path) -> list[list[str]]:
    """The commands of each ```bash block, in order, comments and blank lines dropped."""
    blocks = []
    for body in BASH_BLOCK_RE.findall(readme.read_text(encoding="utf-8")):
        joined = body.replace("\\\n", " ")
        commands = [
            normalize(line)
            for line in joined.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        blocks.append(commands)
    return blocks


def commands(readme: Path) -> list[str]:
    """Every command of every ```bash block, in order."""
    return [command for block in bash_blocks(readme) for command in block]


def _entry(command: str, context: str) -> str:
    """One line of the record: where the command ran, a tab, the command."""
    return f"{context}\t{normalize(command)}".replace("\n", " ")


def record(command: str, context: str) -> None:
    """Note that the running test ran `command` successfully in `context` (where it ran: see the
    module docstring); it counts once the test passes."""
    _PENDING.append(_entry(command, context))


def settle(passed: bool) -> None:
    """End of a test phase: the commands it ran count if it passed, and are dropped otherwise."""
    pending = list(_PENDING)
    _PENDING.clear()
    if not passed or not pending:
        return
    if RECORD_FILE is None:
        _EXECUTED.extend(pending)
        return
    with RECORD_FILE.open("a", encoding="utf-8") as record_file:  # one short append: atomic
        record_file.write("".join(f"{command}\n" for command in pending))


def was_run(command: str, context: str) -> bool:
    """Whether a passed test of this run (on any worker), or the running test, ran `command` in
    `context`."""
    entry = _entry(command, context)
    if entry in _PENDING:
        return True
    if RECORD_FILE is None:
        return entry in _EXECUTED
    if not RECORD_FILE.exists():
        return False
    return entry in RECORD_FILE.read_text(encoding="utf-8").splitlines()
