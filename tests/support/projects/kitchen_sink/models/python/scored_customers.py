"""A Python model that imports a helper module of the project."""

import typing as t
from datetime import datetime

import pandas as pd
from helpers.scoring import score
from sqlmesh import ExecutionContext, model


@model(
    "marts.scored_customers",
    kind="FULL",
    columns={"customer_id": "int", "score": "int"},
    depends_on=["seeds.customers"],
)
def execute(
    context: ExecutionContext, start: datetime, end: datetime, execution_time: datetime, **_: t.Any
) -> pd.DataFrame:
    table = context.resolve_table("seeds.customers")
    frame = context.fetchdf(f"SELECT customer_id, tier FROM {table}")
    frame["score"] = [score(tier) for tier in frame["tier"]]
    return frame[["customer_id", "score"]]
