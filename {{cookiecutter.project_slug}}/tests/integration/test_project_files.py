"""Odd files in a SQLMesh project folder: the manifest fingerprint covers what SQLMesh reads and
never crashes (or hangs) on the rest.

A project folder holds more than models: symlinks to files and folders (dangling ones too), a
socket or a FIFO a tool left behind, files nobody can read, editors' swap files, Python caches and
what SQLMesh and dbt write (`logs/`, `.cache/`, `target/`). The fingerprint decides when the
prepared manifest is stale, so it must change when a file SQLMesh reads changes (through a symlink
too) and stay put when only the clutter does.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.sqlmesh_integration import SQLMeshProjectComponent
from {{ cookiecutter.package_name }}.sqlmesh_integration.definitions.manifest import (
    is_current,
    project_fingerprint,
    read_manifest,
)

from ..support import SampleProject

# A model kept outside the project and linked in, as shared models sometimes are.
LINKED_MODEL = """MODEL (
  name staging.linked_orders,
  kind VIEW,
  owner 'data-platform',
  description 'Order ids, from a model linked in from outside the project.'
);

SELECT
  order_id /* Order identifier. */
FROM staging.stg_orders
"""


@pytest.fixture
def cluttered(
    sample: SampleProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SampleProject]:
    """The sample with every kind of odd file in its folder."""
    project_dir = sample.project.project_dir
    outside = tmp_path / "outside"
    (outside / "shared").mkdir(parents=True)
    (outside / "linked_orders.sql").write_text(LINKED_MODEL)
    (outside / "shared" / "notes.txt").write_text("shared notes\n")
    models = project_dir / "models"
    (models / "staging" / "linked_orders.sql").symlink_to(outside / "linked_orders.sql")
    (project_dir / "shared").symlink_to(outside / "shared", target_is_directory=True)
    (project_dir / "gone.md").symlink_to(outside / "missing.md")  # dangling
    (project_dir / "gone_folder").symlink_to(outside / "missing", target_is_directory=True)
    (project_dir / "loop").symlink_to(project_dir, target_is_directory=True)  # a link back up
    os.mkfifo(project_dir / "pipe")
    monkeypatch.chdir(project_dir)  # a socket path must be short: bind it relative to here
    listener = socket.socket(socket.AF_UNIX)
    listener.bind("agent.sock")
    locked = project_dir / "locked.txt"
    locked.write_text("no one may read this\n")
    locked.chmod(0)
    # A file whose read fails even for root (tests may run as root, who reads any file).
    (project_dir / "unreadable").symlink_to("/proc/self/mem")
    for name in (".orders.sql.swp", "orders.sql~", "#orders.sql#", "4913"):
        (models / "marts" / name).write_text("editor state\n")
    # Emacs's lock of a file being edited: a dangling symlink (SQLMesh itself fails on one named
    # like a model under `models/`, so this one locks the settings).
    (project_dir / ".#settings.yaml").symlink_to("user@host.4242")
    for folder in ("__pycache__", "models/__pycache__", "target", "logs", ".cache"):
        (project_dir / folder).mkdir(exist_ok=True)
        (project_dir / folder / "clutter.bin").write_bytes(os.urandom(16))
    try:
        yield sample
    finally:
        listener.close()
        locked.chmod(0o644)


def test_a_cluttered_project_loads_with_what_sqlmesh_reads(
    cluttered: SampleProject, tmp_path: Path
) -> None:
    component = SQLMeshProjectComponent(project=str(cluttered.project.project_dir), gateway="local")
    state = tmp_path / "state"

    component.write_state_to_path(state)
    definitions = component.build_defs_from_state(None, state)  # type: ignore[arg-type]

    keys = {key.to_user_string() for key in definitions.resolve_all_asset_keys()}
    assert "staging/linked_orders" in keys, "a model linked in is read by SQLMesh"
    assert is_current(read_manifest(state), cluttered.project)


def test_only_source_changes_move_the_fingerprint(cluttered: SampleProject) -> None:
    project = cluttered.project
    project_dir = project.project_dir
    before = project_fingerprint(project)

    # Clutter changes: editor files, caches, logs, dbt's target, a new dangling link.
    (project_dir / "models" / "marts" / ".orders.sql.swp").write_text("moved the cursor\n")
    for folder in ("__pycache__", "models/__pycache__", "target", "logs", ".cache"):
        (project_dir / folder / "clutter.bin").write_bytes(os.urandom(16))
    (project_dir / "also_gone.md").symlink_to(project_dir / "nowhere.md")
    assert project_fingerprint(project) == before

    # Source changes, through a symlinked file and a symlinked folder.
    linked = project_dir / "models" / "staging" / "linked_orders.sql"
    linked.resolve().write_text(LINKED_MODEL.replace("Order ids", "The order ids"))
    after_file = project_fingerprint(project)
    assert after_file != before
    (project_dir / "shared").resolve().joinpath("notes.txt").write_text("edited\n")
    assert project_fingerprint(project) != after_file
