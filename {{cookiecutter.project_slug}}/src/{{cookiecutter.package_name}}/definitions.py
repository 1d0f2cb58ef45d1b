"""The Dagster code location: everything is discovered from `defs/`."""

from __future__ import annotations

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    """Loads every definition in the `defs/` folder."""
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
