"""Every node SQLMesh would run is accounted for: one asset per model, one check per audit.

What SQLMesh runs is read from SQLMesh's own objects (:func:`sqlmesh_nodes`), what Dagster gets
from the prepared manifest (:func:`manifest_nodes`) or from loaded Dagster definitions
(`doctor.py`). Preparing a manifest compares the first two (:func:`account_for_nodes`): a node
that would reach Dagster zero times or twice stops the load with an error naming it, so no
model or test ever disappears behind a green run.

Counted as SQLMesh runs them:
- models: every model SQLMesh loaded, but external ones (disabled models are not loaded); an
  EMBEDDED model is counted too (shown, never materialized);
- audits: the audits of models that SQLMesh evaluates (not EMBEDDED ones, which are never
  evaluated), the audits of external models, and standalone audits; skipped audits never run.

Only the nodes of the context's own projects count: in SQLMesh's multi-repo mode a context also
holds the other projects' nodes (from prod's state), which are their own components' to map.
"""

from __future__ import annotations

import typing as t
from collections import Counter
from dataclasses import dataclass, field

from ..errors import UnmappedNodeError
from .manifest import Manifest

if t.TYPE_CHECKING:
    from sqlmesh.core.context import Context

# (SQLMesh node, audit name): a standalone audit is its own node.
AuditKey = tuple[str, str]


@dataclass(frozen=True)
class NodeCount:
    """The models and audits of a project, as names (audits counted: one check each)."""

    models: frozenset[str] = frozenset()
    embedded: frozenset[str] = frozenset()
    external: frozenset[str] = frozenset()
    audits: Counter[AuditKey] = field(default_factory=Counter)


def sqlmesh_nodes(context: Context) -> NodeCount:
    """What SQLMesh runs for a loaded context, from SQLMesh's objects alone."""
    models, embedded, external = set(), set(), set()
    audits: Counter[AuditKey] = Counter()
    projects = {config.project for config in context.configs.values()}
    for name, model in context.models.items():
        if model.project not in projects:
            continue  # another multi-repo project's, loaded from the state
        if model.kind.is_external:
            external.add(name)
        elif model.kind.is_embedded:
            embedded.add(name)
            continue  # never evaluated: its audits never run
        else:
            models.add(name)
        audits.update((name, audit.name) for audit, _ in model.audits_with_args if not audit.skip)
    audits.update(
        (audit.name, audit.name)
        for audit in context.standalone_audits.values()
        if not audit.skip and audit.project in projects
    )
    return NodeCount(
        models=frozenset(models),
        embedded=frozenset(embedded),
        external=frozenset(external),
        audits=audits,
    )


def manifest_nodes(manifest: Manifest) -> NodeCount:
    """What the Dagster definitions of a manifest hold, counted the same way."""
    audits: Counter[AuditKey] = Counter()
    for model in manifest.models:
        if not model.is_embedded:
            audits.update((model.name, audit.name) for audit in model.audits)
    for table in manifest.external_tables:
        audits.update((table.name, audit.name) for audit in table.audits)
    audits.update((audit.name, audit.name) for audit in manifest.standalone_audits)
    return NodeCount(
        models=frozenset(model.name for model in manifest.models if not model.is_embedded),
        embedded=frozenset(model.name for model in manifest.models if model.is_embedded),
        external=frozenset(table.name for table in manifest.external_tables),
        audits=audits,
    )


def account_for_nodes(context: Context, manifest: Manifest) -> None:
    """Checks that the manifest maps every node SQLMesh would run exactly once.

    Raises:
        UnmappedNodeError: the first node that does not map, named with why and what to change.
    """
    expected, found = sqlmesh_nodes(context), manifest_nodes(manifest)
    for name in sorted((expected.models | expected.embedded) - (found.models | found.embedded)):
        raise UnmappedNodeError("model", name, "it is not in the prepared manifest", _REPORT)
    for name in sorted(found.models - expected.models):
        raise UnmappedNodeError(
            "model", name, "the manifest shows it as a model SQLMesh does not evaluate", _REPORT
        )
    for (node, audit), count in sorted((expected.audits - found.audits).items()):
        reached = found.audits[(node, audit)]
        raise UnmappedNodeError(
            "audit",
            f"{audit}` of `{node}",
            f"it would reach Dagster {reached} time(s) instead of {count + reached}",
            _REPORT,
        )
    for node, audit in sorted(found.audits - expected.audits):
        raise UnmappedNodeError("audit", f"{audit}` of `{node}", "SQLMesh never runs it", _REPORT)
    _account_for_standalone_audits(manifest)
    for model in manifest.models:
        if not model.snapshot_identifier:
            raise UnmappedNodeError("model", model.name, "SQLMesh made no snapshot of it", _REPORT)


def _account_for_standalone_audits(manifest: Manifest) -> None:
    """Each standalone audit needs a snapshot (runs find it by it) and an asset to sit on."""
    tables = {model.name for model in manifest.models if not model.is_embedded} | {
        table.name for table in manifest.external_tables
    }
    for audit in manifest.standalone_audits:
        if not audit.snapshot_identifier:
            raise UnmappedNodeError(
                "standalone audit", audit.name, "SQLMesh made no snapshot of it", _REPORT
            )
        if not tables.intersection(audit.depends_on):
            read = ", ".join(f"`{name}`" for name in audit.depends_on)
            raise UnmappedNodeError(
                "standalone audit",
                audit.name,
                "its check needs an asset to sit on, and it reads "
                + (
                    f"{read}, none of them a model with a table or an external table"
                    if read
                    else "no table"
                ),
                "make its query read the model or table it checks (`FROM <model>`), or set "
                "`skip true` on it if it should not run",
            )


# The cases above are bugs of this integration rather than of the project.
_REPORT = (
    "this is a bug of the SQLMesh integration: report it with the node's definition, and "
    "meanwhile set `skip true` on the audit or `enabled false` on the model to load without it"
)
