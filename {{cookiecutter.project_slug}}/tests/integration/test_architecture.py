"""The integration's contracts, read from its imports (docs/architecture.md, "Contracts").

- No import cycles between the integration's modules.
- The definitions side never imports SQLMesh: importing the public face (what loading a code
  location imports) reaches no module that imports SQLMesh or sqlglot when it is imported.
- Each layer imports only the layers below it (`LAYERS`).

Imports under `if TYPE_CHECKING:` are names for mypy only: they never run, so they can neither
close a cycle nor load SQLMesh, and a type may be named from anywhere. The public face
(`__init__.py`) is the exception: its `__getattr__` imports each of them when the name is first
used, and loading a code location uses every name (Dagster's component registry reads them all), so
there they count as imports at module level. Every other import counts, at module level or
inside a function (a function's import runs when it is called: SQLMesh imported there is paid only
by the code that calls it, which is how the execution side, the sensor and the CLI keep loading
cheap).
"""

from __future__ import annotations

import ast
import importlib
import itertools
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# Read as files, not imported: a cycle that breaks importing must not hide the others.
PACKAGE = "{{ cookiecutter.package_name }}.sqlmesh_integration"
PACKAGE_DIR = Path(__file__).resolve().parents[2] / "src" / Path(*PACKAGE.split("."))

# The layers, lowest first: a module may import its own part and the rows below its own, never a
# row above; the parts on one row stand beside each other and do not import each other. A part is
# a subpackage (`definitions`) or a module at the top of the package (`errors`).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("metadata",),  # metadata keys and tags: the names events and specs share
    ("errors",),  # one base class; every message names the fix
    ("definitions",),  # loading the code location: never imports SQLMesh
    ("connection",),  # opening SQLMesh: config, context, locks
    ("prepare", "execution", "pr_diff"),  # the manifest; inside a step; CI for pull requests
    ("automation",),  # sensor ticks: due models, the mirror
    ("operations",),  # janitor, doctor, state guard, alert policies
    ("assets",),  # the `@sqlmesh_assets` decorator and `sqlmesh_definitions`
    ("component",),  # `SQLMeshProjectComponent` and its scaffolder
    ("code_location",),  # the projects of a code location's components (for the CLI)
    ("cli",),  # `sqlmesh-dagster`
    ("__init__",),  # the public face
)
# Third-party roots that cost seconds and connections to import: never when definitions load.
SQLMESH_ROOTS = ("sqlmesh", "sqlglot")


@dataclass(frozen=True)
class Import:
    """One import of a module: where it stands and what it names."""

    source: str  # the importing module, dotted below the package ("execution.resource")
    target: str  # the imported module: dotted below the package, or the third-party name
    line: int
    at_module_level: bool  # runs when the module is imported (not inside a function)
    internal: bool  # a module of the integration

    def where(self) -> str:
        return f"{module_path(self.source)}:{self.line}"


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE_DIR).with_suffix("")
    parts = (
        relative.parts[:-1]
        if relative.name == "__init__" and len(relative.parts) > 1
        else relative.parts
    )
    return ".".join(parts)


def module_path(name: str) -> str:
    path = PACKAGE_DIR / Path(*name.split("."))
    return str((path if path.is_dir() else path.with_suffix(".py")).relative_to(PACKAGE_DIR.parent))


def part(name: str) -> str:
    """The layer part a module belongs to: its subpackage, or itself at the top."""
    return name.split(".")[0]


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(name: str, path: Path, known: set[str]) -> list[Import]:
    """The imports of one module that run, resolved to the integration's modules."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    package = name.split(".") if is_package and name != "__init__" else name.split(".")[:-1]
    found: list[Import] = []

    def internal(dotted: str) -> str:
        """The module `dotted` names (the package's face for the package itself)."""
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or "__init__"

    def absolute(module: str, line: int, at_module_level: bool) -> Import:
        if module == PACKAGE or module.startswith(PACKAGE + "."):
            return Import(name, internal(module[len(PACKAGE) + 1 :]), line, at_module_level, True)
        return Import(name, module, line, at_module_level, False)

    def visit(node: ast.AST, at_module_level: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child) and name != "__init__":
                for other in child.orelse:
                    visit(other, at_module_level)
                continue
            inner = at_module_level and not isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            if isinstance(child, ast.ImportFrom) and child.level:
                base = package[: len(package) - (child.level - 1)]
                dotted = ".".join([*base, *([child.module] if child.module else [])])
                for alias in child.names:
                    # `from .definitions import manifest` names a module; else the names are
                    # the members of the module `dotted`.
                    member = f"{dotted}.{alias.name}".strip(".")
                    target = member if member in known else internal(dotted)
                    found.append(Import(name, target, child.lineno, inner, True))
            elif isinstance(child, ast.ImportFrom) and child.module:
                found.append(absolute(child.module, child.lineno, inner))
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(absolute(alias.name, child.lineno, inner))
            visit(child, inner)

    visit(tree, True)
    return found


def all_imports() -> list[Import]:
    found = modules()
    known = set(found)
    return [item for name, path in found.items() for item in imports_of(name, path, known)]


def test_every_module_belongs_to_a_layer() -> None:
    placed = {name for row in LAYERS for name in row}
    unplaced = sorted({part(name) for name in modules()} - placed)
    assert not unplaced, (
        f"{', '.join(unplaced)}: not in any layer of tests/integration/test_architecture.py "
        "(LAYERS). Put a new module into the subpackage of the layer it belongs to, or add its "
        "part to LAYERS at the row of what it may import (docs/architecture.md)."
    )


def test_no_import_cycles() -> None:
    graph: dict[str, dict[str, Import]] = {}
    for item in all_imports():
        if item.internal and item.target != item.source:
            graph.setdefault(item.source, {}).setdefault(item.target, item)
    cycles = _cycles(graph)
    assert not cycles, (
        "import cycles in the integration (break each: move what both ends need into a module "
        "below both):\n"
        + "\n".join(
            "  " + ", ".join(f"{graph[a][b].where()} imports {module_path(b)}" for a, b in cycle)
            for cycle in cycles
        )
    )


def _cycles(graph: dict[str, dict[str, Import]]) -> list[list[tuple[str, str]]]:
    """One cycle per strongly connected group of modules, as the edges that close it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, {}):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    cycles = []
    for group in groups:
        start = min(group)
        path, seen, node = [start], {start}, start
        while True:
            node = min(t for t in graph[node] if t in group)
            if node in seen:
                path = [*path[path.index(node) :], node]
                break
            path.append(node)
            seen.add(node)
        cycles.append(list(itertools.pairwise(path)))
    return cycles


def test_each_layer_imports_only_the_layers_below_it() -> None:
    row_of = {name: row for row, names in enumerate(LAYERS) for name in names}
    wrong = []
    for item in all_imports():
        source, target = part(item.source), part(item.target)
        if not item.internal or source == target or source not in row_of or target not in row_of:
            continue
        if row_of[target] >= row_of[source]:
            below = [name for names in LAYERS[: row_of[source]] for name in names]
            wrong.append(
                f"  {item.where()} imports {module_path(item.target)}: `{source}` may import only "
                f"{', '.join(below)} (the layers below it)"
            )
    assert not wrong, (
        "imports against the integration's layers (tests/integration/test_architecture.py, "
        "LAYERS; docs/architecture.md): move the code to the layer it belongs to, or what both "
        "need into a layer below both:\n" + "\n".join(wrong)
    )


def test_the_definitions_side_never_imports_sqlmesh_when_it_loads() -> None:
    """Nothing the public face imports at module level imports SQLMesh at module level."""
    imports = [item for item in all_imports() if item.at_module_level]
    by_source: dict[str, list[Import]] = {}
    for item in imports:
        by_source.setdefault(item.source, []).append(item)
    start = ["__init__", *(name for name in modules() if part(name) == "definitions")]
    reached: dict[str, list[Import]] = {name: [] for name in start}
    queue = list(start)
    offending = []
    while queue:
        name = queue.pop(0)
        for item in by_source.get(name, []):
            if not item.internal:
                if item.target.split(".")[0] in SQLMESH_ROOTS:
                    chain = " -> ".join(f"{step.where()}" for step in reached[name])
                    offending.append(
                        f"  {item.where()} imports {item.target} when it is imported"
                        + (f" (reached from the public face: {chain})" if chain else "")
                    )
            elif item.target not in reached:
                reached[item.target] = [*reached[name], item]
                queue.append(item.target)
    assert not offending, (
        "loading definitions would import SQLMesh (slow loads, Dagster+ timeouts): import it "
        "inside the function that needs it, or move that code out of the definitions side "
        "(docs/architecture.md):\n" + "\n".join(offending)
    )


def test_importing_the_public_face_loads_no_sqlmesh() -> None:
    """What the static check promises, asked of Python itself in a fresh interpreter."""
    definitions = [
        f"{PACKAGE}.{name}"
        for name in modules()
        if part(name) == "definitions" and name != "definitions"
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {[PACKAGE, *definitions]!r}:\n"
        "    importlib.import_module(name)\n"
        f"face = sys.modules[{PACKAGE!r}]\n"
        "for name in face.__all__:\n"  # every name, as Dagster's component registry reads them
        "    getattr(face, name)\n"
        f"print(sorted(n for n in sys.modules if n.split('.')[0] in {SQLMESH_ROOTS!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    assert not loaded, (
        f"importing {PACKAGE} and its definitions side loaded {', '.join(loaded[:5])}"
        f"{' ...' if len(loaded) > 5 else ''}: "
        "test_the_definitions_side_never_imports_sqlmesh_when_it_loads names the import"
    )


def test_every_public_name_resolves_to_the_module_named_for_it() -> None:
    """The public face's names (`__all__`) are the lazily imported ones (`_EXPORTS`), each the
    object of the module `_EXPORTS` names, and the names mypy reads under `TYPE_CHECKING`."""
    face = importlib.import_module(PACKAGE)
    exports: dict[str, str] = face._EXPORTS
    assert sorted(face.__all__) == sorted(exports), "__all__ and _EXPORTS must list the same names"
    for name, module in exports.items():
        assert getattr(face, name) is getattr(importlib.import_module(module, PACKAGE), name)
    typed = {
        alias.asname or alias.name
        for node in ast.walk(ast.parse((PACKAGE_DIR / "__init__.py").read_text()))
        if isinstance(node, ast.ImportFrom) and node.level
        for alias in node.names
    }
    assert typed == set(exports), "the TYPE_CHECKING imports must name exactly _EXPORTS"


def test_the_duckdb_path_rule_loads_no_dagster() -> None:
    """`config.py` asks for `absolute_duckdb_paths` on every `sqlmesh` command: that alone
    imports neither Dagster nor the rest of the integration."""
    code = (
        "import sys\n"
        f"from {PACKAGE} import absolute_duckdb_paths\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] == 'dagster'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    assert not loaded, f"importing absolute_duckdb_paths loaded {', '.join(loaded[:5])}"
