"""What a run in a rendered default project must leave, and what it left, read where it lives.

SQLMesh is the oracle for what Dagster must run: `model_keys` is the set of asset keys of the
models SQLMesh evaluates in `prod` (not the external sources, not EMBEDDED models), read from
SQLMesh state by `state_probe.py`; tests compare sets against it, never a number of models. The
sample's seeds are the oracle for its rows (`expected_rows`), and `dg launch`'s log tells what
Dagster reported materialized (`materialized`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from projects import Project

PROBE = Path(__file__).parent / "state_probe.py"


def probe(project: Project, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """SQLMesh state and the sample's tables in `prod` (see state_probe.py), on the default
    gateway or the one `env` selects; needs the project installed (`.venv`)."""
    result = project.run(
        [str(project.path / ".venv" / "bin" / "python"), str(PROBE), project.package_name],
        env=env,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def asset_keys(names: Iterable[str]) -> set[str]:
    """Asset keys (`marts/orders`) of SQLMesh model names (`marts.orders`), as the translator
    maps them by default."""
    return {name.replace(".", "/") for name in names}


def model_keys(project: Project, env: Mapping[str, str] | None = None) -> set[str]:
    """The asset keys of the models SQLMesh runs in `prod`: what a run of every asset must
    materialize, and the executable assets of the code location."""
    return asset_keys(probe(project, env)["models"])


def expected_rows(project: Project) -> dict[str, int]:
    """Rows the sample's tables hold after a full run, counted from its seed files."""
    seeds = project.sqlmesh_project / "seeds"
    orders_seed = _csv(seeds / "raw_orders.csv")
    paid = {row["order_id"] for row in _csv(seeds / "raw_payments.csv")}
    orders = [row for row in orders_seed if row["order_id"] in paid]
    return {
        "marts.orders": len({row["order_id"] for row in orders}),
        "marts.daily_revenue": len({row["ordered_at"][:10] for row in orders}),
        "marts.customers": len(_csv(seeds / "raw_customers.csv")),
        "staging.stg_orders": len(orders_seed),
        "seeds.raw_orders": len(orders_seed),
    }


def materialized(log: str) -> set[str]:
    """The models a `dg launch` log reports materialized (`seeds.raw_orders`)."""
    marker = "ASSET_MATERIALIZATION - Materialized value "
    return {
        line.split(marker, 1)[1].rstrip(".").replace(" ", ".")
        for line in log.splitlines()
        if marker in line
    }


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))
