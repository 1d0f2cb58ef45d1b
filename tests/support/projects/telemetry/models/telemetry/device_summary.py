"""A Python model: readings counted per device."""

import typing as t
from datetime import datetime

import pandas as pd
from sqlmesh import ExecutionContext, model


@model(
    "telemetry.device_summary",
    kind="FULL",
    columns={"device_id": "int", "reading_count": "int"},
    depends_on=["telemetry.readings"],
    audits=[("not_null", {"columns": "[device_id, reading_count]"})],
)
def execute(
    context: ExecutionContext, start: datetime, end: datetime, execution_time: datetime, **_: t.Any
) -> pd.DataFrame:
    table = context.resolve_table("telemetry.readings")
    return context.fetchdf(
        f"SELECT device_id, COUNT(*) AS reading_count FROM {table} GROUP BY device_id"
    )
