"""Which node a standalone audit checks (prepare side: reads SQLMesh's audit objects).

A standalone audit becomes one Dagster check, on one asset; the other tables it reads become the
check's dependencies. By default the check sits on the most downstream model the audit reads, so
Dagster runs and shows it after all of them (`specs.standalone_check_spec`).

dbt says more. Every dbt generic test is called with the node it is written on as its `model`
argument, and SQLMesh's dbt loader keeps that call in the audit's query:

    {{ test_relationships(column_name="customer_id", to=ref('customers'), field="customer_id",
                          model=get_where_subquery(ref('orders'))) }}

A `relationships` test is a standalone audit (it reads two models), and it is about `orders`, the
model holding the foreign key, even when `customers` is the downstream one. Its subject, read from
that argument, is where its check goes; `customers` becomes a dependency of the check. Tests on a
source name `source('raw', 'payments')` there and go on the source's external asset.
"""

from __future__ import annotations

import typing as t
from collections.abc import Mapping

from jinja2 import Environment, nodes
from jinja2.exceptions import TemplateError

if t.TYPE_CHECKING:
    from sqlmesh.core.audit import StandaloneAudit
    from sqlmesh.core.model import Model

# Only parsed, never rendered: dbt's own block tags (`test`, `call`...) fail to parse and
# leave the default placement.
_JINJA = Environment(extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"])


def audit_subject(audit: StandaloneAudit, models: Mapping[str, Model]) -> str | None:
    """The SQLMesh name of the node a standalone audit checks, when its query names it; else None.

    Args:
        audit: A standalone audit.
        models: The project's models by name (`Context.models`), to resolve a dbt `ref`.
    """
    reference = _model_argument(_query_text(audit))
    if reference is None:
        return None
    function, arguments = reference
    read = sorted(audit.depends_on or ())
    if function == "ref":
        found = [
            name for name in read if name in models and _dbt_name(models[name]) == arguments[-1]
        ]
    else:  # source(source_name, table_name): a table SQLMesh does not build
        tables = [name for name in read if name not in models or models[name].kind.is_external]
        found = (
            tables
            if len(tables) == 1
            else [name for name in tables if name.rsplit(".", 1)[-1].strip('"') == arguments[-1]]
        )
    return found[0] if len(found) == 1 else None


def _query_text(audit: StandaloneAudit) -> str:
    query = getattr(audit, "query_", None)
    return str(getattr(query, "sql", "") or "")


def _model_argument(text: str) -> tuple[str, list[str]] | None:
    """`("ref", ["orders"])` for a call with `model=get_where_subquery(ref('orders'))`."""
    if "model=" not in text.replace(" ", ""):
        return None
    try:
        template = _JINJA.parse(text)
    except TemplateError:
        return None
    for call in template.find_all(nodes.Call):
        for keyword in call.kwargs:
            if keyword.key == "model":
                return _reference(keyword.value)
    return None


def _reference(node: nodes.Node) -> tuple[str, list[str]] | None:
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name):
        name = node.node.name
        if name in ("ref", "source"):
            arguments = [arg.value for arg in node.args if isinstance(arg, nodes.Const)]
            if arguments and all(isinstance(argument, str) for argument in arguments):
                return name, arguments
            return None
        if node.args:  # get_where_subquery(ref(...)) and other wrappers of the relation
            return _reference(node.args[0])
    return None


def _dbt_name(model: Model) -> str | None:
    info = getattr(model, "dbt_node_info", None)
    return getattr(info, "name", None) if info is not None else None
