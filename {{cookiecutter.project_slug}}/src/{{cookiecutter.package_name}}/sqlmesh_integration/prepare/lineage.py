"""Column-level lineage from SQLMesh, traced when the manifest is prepared (imports SQLMesh).

SQLMesh traces a column through the model's rendered query (CTEs, joins, expressions) down to the
columns of the tables it reads (`sqlmesh.core.lineage.column_dependencies`, what its UI shows).
What cannot be traced is left out, never guessed: Python and seed models have no query; a column
SQLMesh cannot follow (a `SELECT *` over a table of unknown columns, a macro it cannot render
without data) is omitted while the model's other columns keep their lineage.
"""

from __future__ import annotations

import logging
import typing as t

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlmesh.core.lineage import column_dependencies
from sqlmesh.utils.errors import SQLMeshError

from ..definitions.manifest import ColumnLineage

if t.TYPE_CHECKING:
    from sqlmesh.core.context import Context
    from sqlmesh.core.model import Model

logger = logging.getLogger(__name__)

# What tracing one column can raise for a query SQLMesh cannot follow: its own and sqlglot's
# errors, and sqlglot lineage's ValueError/KeyError for a column it cannot find in a scope.
_UNTRACEABLE = (SQLMeshError, SqlglotError, ValueError, KeyError)


def model_column_lineage(context: Context, model: Model) -> ColumnLineage:
    """The upstream columns of each column of a SQL model that SQLMesh can trace.

    Args:
        context: A loaded SQLMesh context (the lineage needs its models' schemas).
        model: The model; models without a SQL query get no lineage.

    Returns:
        Each traced column with its sorted `(upstream model or table, column)` pairs; a column
        computed from no table (a literal) or not traceable is absent.
    """
    if not model.is_sql or model.kind.is_external or model.kind.is_seed:
        return {}
    lineage: dict[str, tuple[tuple[str, str], ...]] = {}
    for column in model.columns_to_types or {}:
        try:
            dependencies = column_dependencies(context, model.fqn, exp.column(column, quoted=True))
        except _UNTRACEABLE as error:
            logger.debug("No lineage for %s.%s: %s", model.fqn, column, error)
            continue
        sources = sorted(
            (upstream, name)
            for upstream, names in dependencies.items()
            if upstream != model.fqn  # an incremental model reading its own table
            for name in names
            if name and name != "*"  # COUNT(*) reads rows, not a column
        )
        if sources:
            lineage[column] = tuple(sources)
    return lineage
