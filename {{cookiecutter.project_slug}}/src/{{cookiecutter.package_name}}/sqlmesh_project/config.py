"""The SQLMesh configuration of this project: `settings.yaml`, with its DuckDB files made absolute.

Every setting (gateways, model defaults, linter...) lives in `settings.yaml`, written as you would
write SQLMesh's `config.yaml`. This file only loads it and resolves the relative DuckDB paths
(`local.duckdb`, `ci.duckdb`) against the repository root: DuckDB resolves a relative path from the
current directory, so `sqlmesh plan` run from the repository root, `cd` into this folder and then
`sqlmesh plan`, and Dagster all open the same database file. (SQLMesh's Jinja in a `config.yaml`
cannot know where the file is, and SQLMesh refuses a config.yaml next to a config.py.)

The repository root is the nearest folder above this one that holds a `pyproject.toml`; a copy of
this folder with none above it (a test's temporary copy) uses the folder that holds it.
"""

from __future__ import annotations

from pathlib import Path

from sqlmesh.core.config import Config
from sqlmesh.core.config.loader import load_config_from_yaml

PROJECT_DIR = Path(__file__).resolve().parent
SETTINGS_FILE = PROJECT_DIR / "settings.yaml"


def repository_root(project_dir: Path = PROJECT_DIR) -> Path:
    """The folder relative DuckDB paths resolve against (see the module docstring)."""
    for parent in project_dir.parents:
        if (parent / "pyproject.toml").is_file():
            return parent
    return project_dir.parent


def absolute_duckdb_paths(settings: dict, root: Path) -> dict:
    """The settings with every gateway's relative DuckDB `database` made absolute under `root`."""
    for gateway in (settings.get("gateways") or {}).values():
        for key in ("connection", "state_connection"):
            connection = gateway.get(key) or {}
            database = str(connection.get("database") or "")
            if connection.get("type") != "duckdb" or not database or database == ":memory:":
                continue
            if database.startswith(("md:", "motherduck:")) or "://" in database:
                continue
            connection["database"] = str(root / database)
    return settings


config = Config.parse_obj(
    absolute_duckdb_paths(load_config_from_yaml(SETTINGS_FILE), repository_root())
)
