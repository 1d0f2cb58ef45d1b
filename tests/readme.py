"""Commands in the READMEs, and the record of which ones the tests ran.

Convention (stated in both READMEs): every line of a ```bash block is a command the user runs, and a
test runs it; snippets not meant to be run as-is go in ```text blocks. A test that runs a README
command records it here (the `installed_project.run` helper does so), and test_readme_commands.py
runs whatever no other test ran, so every command is covered once per test run (on any xdist
worker: conftest points RECORD_FILE at a file they share).
"""

from __future__ import annotations

import re
from pathlib import Path

BASH_BLOCK_RE = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)

# Where the commands run so far are listed, one per line; set by conftest to a file every xdist
# worker of the test run shares, so a command run on one worker counts on all.
RECORD_FILE: Path | None = None
_EXECUTED: list[str] = []  # without a RECORD_FILE (this module used on its own)

# The template README's demo command (run once per test run by the `installed_project` fixture).
DEMO_COMMAND = "bash scripts/demo.sh"


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


def record(command: str) -> None:
    """Note that a test ran `command` successfully."""
    if RECORD_FILE is None:
        _EXECUTED.append(normalize(command))
        return
    with RECORD_FILE.open("a", encoding="utf-8") as record_file:  # one short append: atomic
        record_file.write(normalize(command).replace("\n", " ") + "\n")


def was_run(command: str) -> bool:
    """Whether some test in this test run (on any worker) already ran `command`."""
    if RECORD_FILE is None:
        return normalize(command) in _EXECUTED
    if not RECORD_FILE.exists():
        return False
    return normalize(command) in RECORD_FILE.read_text(encoding="utf-8").splitlines()
