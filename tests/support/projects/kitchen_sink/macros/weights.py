"""A Python macro reading a config variable."""

from sqlglot import exp
from sqlmesh import macro


@macro()
def weighted(evaluator, value):  # type: ignore[no-untyped-def]
    """`value` times the project's `event_weight` variable."""
    return exp.Mul(this=value, expression=exp.Literal.number(evaluator.var("event_weight")))
