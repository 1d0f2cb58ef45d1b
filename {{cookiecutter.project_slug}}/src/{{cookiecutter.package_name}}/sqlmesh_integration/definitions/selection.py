"""SQLMesh model selectors applied to a prepared manifest (no SQLMesh import).

The component's `select` and `exclude` use SQLMesh's selector syntax, evaluated here on the manifest
when definitions are built, so loading still never imports SQLMesh:

- a model name, with `*` wildcards: `marts.customers`, `marts.*` (the `schema.table` name, or
  `catalog.schema.table`);
- `tag:<tag>`, with `*` wildcards: `tag:finance`;
- `+` before a selector adds the models it reads, after it the models that read it:
  `+marts.customers`, `staging.*+`;
- several selectors separated by spaces or commas select the models any of them selects.

SQLMesh's `&`, `^`, parentheses and `git:` are refused with an error naming what is understood.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from fnmatch import fnmatchcase

from ..errors import SelectionError
from .manifest import Manifest, SQLMeshModel, SQLMeshStandaloneAudit

_UNSUPPORTED = re.compile(r"[&^()]|\bgit:")


def select_manifest(manifest: Manifest, select: str | None, exclude: str | None) -> Manifest:
    """The manifest restricted to the models `select` selects and `exclude` does not.

    A model left out that a kept model reads becomes an upstream model (`upstream_models`): a
    dependency on its asset key, never dropped, so Dagster orders a run as SQLMesh's DAG does.
    External tables are kept when a kept model reads them. A standalone audit is kept with the
    model its check is attached to (the most downstream model it reads), so components that
    split one project between them each report it at most once and together exactly once; one
    that reads only external tables is kept with them.

    Raises:
        SelectionError: a selector uses syntax this module does not evaluate, or selects nothing.
    """
    if not (select or "").strip() and not (exclude or "").strip():
        return manifest
    names = (
        selected_names(manifest.models, select)
        if (select or "").strip()
        else {model.name for model in manifest.models}
    )
    if (exclude or "").strip():
        names -= selected_names(manifest.models, exclude)
    if not names:
        raise SelectionError(f"select: {select or '*'}; exclude: {exclude or ''}", "no model left")
    models = tuple(model for model in manifest.models if model.name in names)
    read = {dependency for model in models for dependency in model.depends_on}
    external_tables = tuple(table for table in manifest.external_tables if table.name in read)
    kept_tables = {table.name for table in external_tables}
    standalone_audits = tuple(
        audit
        for audit in manifest.standalone_audits
        if _audit_owner(audit, manifest) in names | kept_tables
    )
    read |= {dependency for audit in standalone_audits for dependency in audit.depends_on}
    upstream_models = tuple(
        model
        for model in (*manifest.upstream_models, *manifest.models)
        if model.name in read and model.name not in names
    )
    return replace(
        manifest,
        models=models,
        external_tables=external_tables,
        standalone_audits=standalone_audits,
        upstream_models=upstream_models,
    )


def _audit_owner(audit: SQLMeshStandaloneAudit, manifest: Manifest) -> str | None:
    """The node a standalone audit's check is attached to (`specs.standalone_check_spec`).

    The node it checks when SQLMesh says which (`subject`), else the most downstream model of the
    manifest it reads, else the first external table it reads.
    """
    tables = {model.name for model in manifest.models if not model.is_embedded}
    external = {table.name for table in manifest.external_tables}
    if audit.subject in tables | external:
        return audit.subject
    models = [model.name for model in manifest.models if model.name in tables]
    read = [name for name in models if name in audit.depends_on]
    if read:
        return read[-1]
    return next((name for name in audit.depends_on if name in external), None)


def selected_names(models: Iterable[SQLMeshModel], expression: str | None) -> set[str]:
    """The fully qualified names of the models a selector expression selects."""
    models = list(models)
    text = (expression or "").strip()
    if _UNSUPPORTED.search(text):
        raise SelectionError(text, "`&`, `^`, parentheses and `git:` are not evaluated here")
    upstream = {model.name: set(model.depends_on) for model in models}
    downstream: dict[str, set[str]] = {model.name: set() for model in models}
    for model in models:
        for dependency in model.depends_on:
            if dependency in downstream:
                downstream[dependency].add(model.name)
    selected: set[str] = set()
    for term in re.split(r"[\s,|]+", text):
        if not term:
            continue
        core = term.strip("+")
        matched = {model.name for model in models if _matches(model, core)}
        if not matched:
            raise SelectionError(term, "it matches no model of the project")
        selected |= matched
        if term.startswith("+"):
            selected |= _closure(matched, upstream)
        if term.endswith("+"):
            selected |= _closure(matched, downstream)
    return {name for name in selected if name in downstream}


def _matches(model: SQLMeshModel, pattern: str) -> bool:
    if pattern.startswith("tag:"):
        wanted = pattern.removeprefix("tag:").lower()
        return any(fnmatchcase(tag.lower(), wanted) for tag in model.tags)
    pattern = pattern.lower().replace('"', "")
    full = ".".join(part for part in (model.catalog, model.schema, model.table) if part)
    return fnmatchcase(model.view_name.lower(), pattern) or fnmatchcase(full.lower(), pattern)


def _closure(start: set[str], edges: dict[str, set[str]]) -> set[str]:
    found: set[str] = set()
    pending = list(start)
    while pending:
        for neighbour in edges.get(pending.pop(), ()):
            if neighbour not in found:
                found.add(neighbour)
                pending.append(neighbour)
    return found
