"""Money helpers shared by the models."""

from __future__ import annotations

from sqlglot import exp

from sqlmesh import macro
from sqlmesh.core.macros import MacroEvaluator


@macro()
def cents_to_amount(evaluator: MacroEvaluator, cents: exp.Expression) -> exp.Expression:
    """Turn an integer amount in minor units (cents) into a DECIMAL(18, 2) amount.

    Example: `@cents_to_amount(amount_cents) AS amount` renders
    `CAST(CAST(amount_cents AS DECIMAL(18, 2)) / 100 AS DECIMAL(18, 2)) AS amount`.
    """
    amount = exp.Div(this=exp.cast(cents, "DECIMAL(18, 2)"), expression=exp.Literal.number(100))
    return exp.cast(amount, "DECIMAL(18, 2)")
