"""`sqlmesh-dagster doctor`: SQLMesh's view of a project beside the Dagster definitions.

SQLMesh says what the project is (its models and the audits it runs, loaded from the files), what
an environment holds (its snapshots) and what is due now (its scheduler, read-only). The Dagster
definitions say what Dagster shows and can run. The doctor puts the two side by side and prints one
line per difference:

- models: every model SQLMesh evaluates is one executable asset; an EMBEDDED model one asset that
  is never materialized; Dagster has no model asset SQLMesh does not have;
- audits: every audit SQLMesh runs (of models, of external models, standalone) is one check;
- prod (or the environment asked): what it holds is the code, model by model, and the
  definitions were prepared from that code;
- due now: whatever SQLMesh has due, Dagster can run (an asset or check of the same code).
  What is due and Dagster can run is listed, not counted: the due sensor's next tick runs it.

Any difference makes the command exit non-zero, so CI can run it. It reads only (nothing is
planned, run or written), and it imports SQLMesh: the command line imports it when it runs.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import dagster as dg

from ..automation.due import find_due_models
from ..connection.context import open_context
from ..definitions.accounting import NodeCount, sqlmesh_nodes
from ..definitions.project import SQLMeshProject
from ..errors import EnvironmentNotFoundError, SQLMeshIntegrationError
from ..execution.resource import SQLMeshResource
from ..metadata import (
    METADATA_AUDIT_NAME,
    METADATA_MODEL_NAME,
    METADATA_SNAPSHOT_IDENTIFIER,
)

REFRESH_COMMAND = "uv run dg utils refresh-defs-state"


@dataclass(frozen=True)
class Finding:
    """One line of the report: a topic (`models`, `audits`, `prod`, `due`, `definitions`)."""

    topic: str
    text: str

    def __str__(self) -> str:
        return f"{self.topic}: {self.text}"


@dataclass(frozen=True)
class Diagnosis:
    """What the doctor found: the differences (any makes it fail) and notes (listed only)."""

    environment: str
    differences: tuple[Finding, ...]
    notes: tuple[Finding, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        """No difference between SQLMesh and Dagster."""
        return not self.differences

    def lines(self) -> list[str]:
        """The report: differences first, then notes, then a one-line summary."""
        counted = ", ".join(f"{number} {name}" for name, number in self.counts.items())
        verdict = (
            f"no difference between SQLMesh and Dagster ({counted}; environment "
            f"`{self.environment}`)."
            if self.clean
            else f"{len(self.differences)} difference(s) between SQLMesh and Dagster "
            f"(environment `{self.environment}`)."
        )
        return [
            *(f"DIFFERENT {finding}" for finding in self.differences),
            *(f"note {finding}" for finding in self.notes),
            verdict,
        ]


@dataclass(frozen=True)
class DagsterNodes:
    """The project's models and audits as the Dagster definitions hold them.

    `assets`: SQLMesh name to (asset key, executable, snapshot identifier), one entry per asset
    (so a model with two assets is listed twice); `checks`: (node, audit) to check keys.
    """

    assets: tuple[tuple[str, dg.AssetKey, bool, str], ...] = ()
    checks: Mapping[tuple[str, str], tuple[dg.AssetCheckKey, ...]] = field(default_factory=dict)


def diagnose(
    project: SQLMeshProject,
    definitions: dg.Definitions | None,
    environment: str,
    *,
    definitions_error: str | None = None,
) -> Diagnosis:
    """Compares SQLMesh's view of `project` with `definitions` (None when they did not load).

    Args:
        project: The SQLMesh project.
        definitions: The Dagster definitions of the code location, or None.
        environment: The SQLMesh environment to compare with the code (`prod`).
        definitions_error: Why the definitions did not load, when they did not.
    """
    differences: list[Finding] = []
    notes: list[Finding] = []
    context = open_context(project)
    try:
        expected = sqlmesh_nodes(context)
        code = {name: found.snapshot_id.identifier for name, found in context.snapshots.items()}
        stored = context.state_reader.get_environment(environment)
        held = (
            {info.name: info.snapshot_id.identifier for info in stored.snapshots}
            if stored is not None
            else None
        )
    finally:
        context.close()
    dagster = DagsterNodes()
    if definitions is None:
        differences.append(
            Finding("definitions", f"the Dagster definitions do not load: {definitions_error}")
        )
    else:
        dagster = dagster_nodes(
            definitions, project, expected.models | expected.embedded | expected.external
        )
        differences += _compare_models(expected, dagster, code)
        differences += _compare_audits(expected, dagster)
    if held is None:
        differences.append(
            Finding(
                "prod" if environment == "prod" else environment,
                f"SQLMesh environment `{environment}` does not exist: run "
                f"`{project.plan_command(environment)}`.",
            )
        )
    else:
        differences += _compare_environment(project, environment, code, held)
    if held is not None and definitions is not None:
        due_differences, due_notes = _compare_due(project, environment, dagster, held)
        differences += due_differences
        notes += due_notes
    counts = {
        "models": len(expected.models) + len(expected.embedded),
        "audits": sum(expected.audits.values()),
    }
    return Diagnosis(environment, tuple(differences), tuple(notes), counts)


def dagster_nodes(
    definitions: dg.Definitions, project: SQLMeshProject, known: Collection[str] = ()
) -> DagsterNodes:
    """The assets and checks of `definitions` that stand for nodes of this SQLMesh project.

    Assets of a step whose SQLMesh resource runs this project, and the assets without a step
    (external tables, EMBEDDED models) those read or whose SQLMesh name is `known`; other SQLMesh
    projects of the same code location are left out. Without any SQLMesh resource for the
    project, every SQLMesh asset counts.
    """
    ours = _resource_keys(definitions, project)
    graph = definitions.resolve_asset_graph()
    executable = [
        assets_def
        for assets_def in graph.assets_defs
        if assets_def.is_executable and assets_def.required_resource_keys & ours
    ]
    read = {
        dep.asset_key for assets_def in executable for spec in assets_def.specs for dep in spec.deps
    }
    assets: list[tuple[str, dg.AssetKey, bool, str]] = []
    checks: dict[tuple[str, str], list[dg.AssetCheckKey]] = {}
    for assets_def in graph.assets_defs:
        mine = assets_def in executable
        for spec in assets_def.specs:
            name = spec.metadata.get(METADATA_MODEL_NAME)
            if name is None or not (mine or not ours or spec.key in read or name in known):
                continue
            identifier = str(spec.metadata.get(METADATA_SNAPSHOT_IDENTIFIER, ""))
            assets.append((str(name), spec.key, assets_def.is_executable, identifier))
        if mine or not ours:
            for check in assets_def.check_specs:
                node = check.metadata.get(METADATA_MODEL_NAME)
                audit = check.metadata.get(METADATA_AUDIT_NAME)
                if node is not None and audit is not None:
                    checks.setdefault((str(node), str(audit)), []).append(check.key)
    return DagsterNodes(
        assets=tuple(assets), checks={key: tuple(found) for key, found in checks.items()}
    )


def load_code_location(module_name: str) -> tuple[dg.Definitions | None, str | None]:
    """The Dagster definitions of a code location module (`<package>.definitions`), as `dg` loads.

    The module's `Definitions`, or what its `@dg.definitions` function returns; when they do not
    load, None and why (the integration's own error when one is the cause, such as a missing or
    stale defs state, which names its fix).
    """
    try:
        return _definitions_in(importlib.import_module(module_name)), None
    except Exception as error:
        return None, _reason(error)


def _reason(error: BaseException) -> str:
    current: BaseException | None = error
    while current is not None:
        if isinstance(current, SQLMeshIntegrationError):
            return str(current)
        current = current.__cause__ or current.__context__
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def _definitions_in(module: ModuleType) -> dg.Definitions:
    from dagster.components.definitions import LazyDefinitions

    for value in vars(module).values():
        if isinstance(value, dg.Definitions):
            return value
        if isinstance(value, LazyDefinitions):
            loaded = value()
            if isinstance(loaded, dg.Definitions):
                return loaded
    raise SQLMeshIntegrationError(
        f"Module `{module.__name__}` holds no Dagster Definitions: pass the code location's "
        "module with `--definitions <module>`."
    )


def _resource_keys(definitions: dg.Definitions, project: SQLMeshProject) -> set[str]:
    folder = project.project_dir.resolve()
    return {
        key
        for key, resource in (definitions.resources or {}).items()
        if isinstance(resource, SQLMeshResource) and Path(resource.project_dir).resolve() == folder
    }


def _compare_models(
    expected: NodeCount, dagster: DagsterNodes, code: Mapping[str, str]
) -> list[Finding]:
    found: dict[str, list[tuple[dg.AssetKey, bool, str]]] = {}
    for name, key, executable, identifier in dagster.assets:
        found.setdefault(name, []).append((key, executable, identifier))
    differences = []
    for name in sorted(expected.models | expected.embedded):
        assets = found.get(name, [])
        embedded = name in expected.embedded
        if not assets:
            differences.append(
                Finding(
                    "models",
                    f"`{name}`: SQLMesh {'shows' if embedded else 'evaluates'} it, Dagster has "
                    "no asset for it (left out by a `select`/`exclude`, or definitions prepared "
                    f"from other code: `{REFRESH_COMMAND}`).",
                )
            )
            continue
        if len(assets) > 1:
            keys = ", ".join(key.to_user_string() for key, _, _ in assets)
            differences.append(
                Finding("models", f"`{name}` is {len(assets)} Dagster assets ({keys}), not one.")
            )
        key, executable, identifier = assets[0]
        if embedded and executable:
            differences.append(
                Finding(
                    "models",
                    f"`{name}` is EMBEDDED (no table) but Dagster asset "
                    f"{key.to_user_string()} can be materialized.",
                )
            )
        elif not embedded and not executable:
            differences.append(
                Finding(
                    "models",
                    f"`{name}`: SQLMesh evaluates it, Dagster asset {key.to_user_string()} "
                    "cannot be materialized.",
                )
            )
        if code.get(name) and identifier and identifier != code[name]:
            differences.append(
                Finding(
                    "definitions",
                    f"`{name}`: Dagster's definitions were prepared from other code than the "
                    f"project's files: run `{REFRESH_COMMAND}`.",
                )
            )
    known = expected.models | expected.embedded | expected.external
    for name in sorted(set(found) - known):
        if any(executable for _, executable, _ in found[name]):
            keys = ", ".join(key.to_user_string() for key, _, _ in found[name])
            differences.append(
                Finding(
                    "models",
                    f"Dagster asset {keys} runs `{name}`, which the SQLMesh project does not "
                    f"define (removed or renamed): run `{REFRESH_COMMAND}`.",
                )
            )
    return differences


def _compare_audits(expected: NodeCount, dagster: DagsterNodes) -> list[Finding]:
    differences = []
    found = Counter({key: len(checks) for key, checks in dagster.checks.items()})
    for (node, audit), count in sorted(expected.audits.items()):
        if found[(node, audit)] != count:
            differences.append(
                Finding(
                    "audits",
                    f"audit `{audit}` of `{node}`: SQLMesh runs it {count} time(s), Dagster has "
                    f"{found[(node, audit)]} check(s) for it"
                    + (" (`enable_asset_checks: false`?)." if not found[(node, audit)] else "."),
                )
            )
    for node, audit in sorted(set(found) - set(expected.audits)):
        checks = ", ".join(key.to_user_string() for key in dagster.checks[(node, audit)])
        differences.append(
            Finding(
                "audits",
                f"Dagster check {checks} stands for audit `{audit}` of `{node}`, which SQLMesh "
                f"does not run (removed, or `skip true`): run `{REFRESH_COMMAND}`.",
            )
        )
    return differences


def _compare_environment(
    project: SQLMeshProject,
    environment: str,
    code: Mapping[str, str],
    held: Mapping[str, str],
) -> list[Finding]:
    plan = f"`{project.plan_command(environment)}`"
    differences = []
    for name in sorted(set(code) | set(held)):
        if name not in held:
            text = f"`{name}` is in the code but not in `{environment}`: run {plan}."
        elif name not in code:
            text = f"`{name}` is in `{environment}` but no longer in the code: run {plan}."
        elif held[name] != code[name]:
            text = f"`{name}` differs from what `{environment}` holds: run {plan}."
        else:
            continue
        differences.append(Finding(environment, text))
    return differences


def _compare_due(
    project: SQLMeshProject,
    environment: str,
    dagster: DagsterNodes,
    held: Mapping[str, str],
) -> tuple[list[Finding], list[Finding]]:
    try:
        due = find_due_models(project, environment)
    except EnvironmentNotFoundError:
        return [], []  # reported with the environment
    if due.busy is not None:
        return [Finding("due", f"SQLMesh could not be asked what is due: {due.busy}.")], []
    runnable = {name for name, _, executable, _ in dagster.assets if executable}
    identifiers = {name: identifier for name, _, _, identifier in dagster.assets}
    audit_nodes = {node for node, _ in dagster.checks}
    differences, notes = [], []
    for name, through in sorted(due.due.items()):
        if name in runnable and identifiers.get(name) in ("", held.get(name)):
            notes.append(
                Finding("due", f"`{name}` through {through}: the due sensor's next tick runs it.")
            )
        elif name in audit_nodes and name not in runnable:
            notes.append(
                Finding("due", f"audits of `{name}` through {through}: the due sensor runs them.")
            )
        elif name in runnable:
            differences.append(
                Finding(
                    "due",
                    f"`{name}` is due through {through}, and Dagster's asset for it holds other "
                    f"code than `{environment}`: the sensor will not run it until the code is "
                    "applied and the definitions refreshed.",
                )
            )
        else:
            differences.append(
                Finding(
                    "due",
                    f"`{name}` is due through {through}, and no Dagster asset or check runs it.",
                )
            )
    return differences, notes


def render(diagnosis: Diagnosis) -> str:
    """The report as text, one finding per line."""
    return "\n".join(diagnosis.lines())
