"""What a run reports: the selected models and checks (plain data; no SQLMesh import).

The resource builds these from the step's selection and the specs' metadata; the event console and
the runner use them to report only what was selected.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg


@dataclass(frozen=True)
class CheckTarget:
    """A Dagster check that stands for one SQLMesh audit."""

    check_name: str
    audit_name: str
    blocking: bool


@dataclass(frozen=True)
class ModelTarget:
    """What a run reports for one selected model."""

    model_name: str
    asset_key: dg.AssetKey
    checks: tuple[CheckTarget, ...] = ()
    audit_count: int = 0  # audits SQLMesh runs for the model, selected as checks or not


def display_name(name: str) -> str:
    """A SQLMesh name as users write it: `"catalog"."schema"."table"` as `schema.table`.

    Example:
        >>> display_name('"db"."marts"."orders"')
        'marts.orders'
    """
    parts = [part.strip('"') for part in name.split(".")]
    return ".".join(parts[-2:])
