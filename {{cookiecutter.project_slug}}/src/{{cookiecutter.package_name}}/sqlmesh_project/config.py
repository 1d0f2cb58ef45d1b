"""The SQLMesh configuration of this project: `settings.yaml`, with its DuckDB files made absolute.

Every setting (gateways, model defaults, linter...) lives in `settings.yaml`, written as you would
write SQLMesh's `config.yaml`. This file only loads it and resolves the relative DuckDB paths
(`local.duckdb`, `ci.duckdb`) against the repository root: DuckDB resolves a relative path from the
current directory, so `sqlmesh plan` run from the repository root, `cd` into this folder and then
`sqlmesh plan`, and Dagster all open the same database file. (SQLMesh's Jinja in a `config.yaml`
cannot know where the file is, and SQLMesh refuses a config.yaml next to a config.py.)

The rule lives in the integration (`absolute_duckdb_paths`), which applies it to every config it
opens: the repository root is the nearest folder above this one that holds a `pyproject.toml`; a
copy of this folder with none above it (a test's temporary copy) uses the folder that holds it.
"""

from __future__ import annotations

from pathlib import Path

from sqlmesh.core.config import Config
from sqlmesh.core.config.loader import load_config_from_yaml

from {{ cookiecutter.package_name }}.sqlmesh_integration import absolute_duckdb_paths

PROJECT_DIR = Path(__file__).resolve().parent
SETTINGS_FILE = PROJECT_DIR / "settings.yaml"

config = Config.parse_obj(absolute_duckdb_paths(load_config_from_yaml(SETTINGS_FILE), PROJECT_DIR))
