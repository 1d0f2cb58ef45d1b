"""What SQLMesh filled in an environment, as plain data (no SQLMesh import).

`filled.py` reads it from SQLMesh's state (and imports SQLMesh); the mirror (`mirror.py`) turns
it into Dagster materializations. Holding it apart lets both import it without importing each
other: the mirror imports the reader only when a pass runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

SOURCE_PLAN = "plan"
SOURCE_RUN = "run"


@dataclass(frozen=True)
class FilledModel:
    """What SQLMesh filled of one model in an environment.

    Attributes:
        name: The model's SQLMesh name.
        intervals: The filled intervals, merged, as [start, end) epoch milliseconds (UTC).
        filled_at_ms: When SQLMesh last wrote the model's table (epoch milliseconds), from the
            state's `last_altered_ts`; None when the state does not record it.
        snapshot_version: The version of the snapshot in the environment.
    """

    name: str
    intervals: tuple[tuple[int, int], ...]
    filled_at_ms: int | None = None
    snapshot_version: str = ""


@dataclass(frozen=True)
class FilledState:
    """What SQLMesh filled in an environment, and its last plan.

    Attributes:
        environment: The SQLMesh environment read.
        plan_id: The id of the plan that last updated the environment.
        plan_finalized_ms: When that plan was finalized (epoch milliseconds).
        models: The environment's models, by SQLMesh name.
        busy: Why SQLMesh could not be read (another process holds the DuckDB file); None when
            it was.
    """

    environment: str
    plan_id: str | None = None
    plan_finalized_ms: int | None = None
    models: Mapping[str, FilledModel] = field(default_factory=dict)
    busy: str | None = None

    def source(self, model: FilledModel) -> str:
        """`run` when SQLMesh wrote the model after the last plan was finalized, else `plan`."""
        if (
            model.filled_at_ms is not None
            and self.plan_finalized_ms is not None
            and model.filled_at_ms > self.plan_finalized_ms
        ):
            return SOURCE_RUN
        return SOURCE_PLAN
