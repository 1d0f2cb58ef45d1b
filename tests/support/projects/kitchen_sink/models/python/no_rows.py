"""A Python model that returns no rows (an empty generator, as SQLMesh asks for "no data").

SQLMesh still evaluates it and records its interval: Dagster reports it materialized, with 0 rows.
"""

import typing as t
from datetime import datetime

import pandas as pd
from sqlmesh import ExecutionContext, model


@model(
    "marts.no_rows",
    kind="FULL",
    columns={"customer_id": "int", "reason": "text"},
    description="Customers flagged for review: none yet.",
)
def execute(
    context: ExecutionContext, start: datetime, end: datetime, execution_time: datetime, **_: t.Any
) -> t.Iterator[pd.DataFrame]:
    yield from ()
