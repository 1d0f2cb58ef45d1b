"""Commands in the READMEs, and the record of which ones the tests ran.

Convention (stated in both READMEs): every line of a ```bash block is a command the user runs, and a
test runs it; snippets not meant to be run as-is go in ```text blocks. A test that runs a README
command records it here (the `installed_project.run` helper does so), and test_readme_commands.py
runs whatever no other test ran, so every command is covered exactly once per session.
"""

from __future__ import annotations

import re
from pathlib import Path

BASH_BLOCK_RE = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)

EXECUTED: list[str] = []

# The template README's demo command (run once per session by the `installed_project` fixture).
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
    EXECUTED.append(normalize(command))


def was_run(command: str) -> bool:
    """Whether some test in this session already ran `command`."""
    return normalize(command) in EXECUTED
