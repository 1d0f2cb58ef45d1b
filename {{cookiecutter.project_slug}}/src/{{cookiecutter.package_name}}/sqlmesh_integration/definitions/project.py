"""Where the SQLMesh project lives, which gateway and which environment a run targets.

The environment naming function here is the one CI uses too (`sqlmesh-dagster environment`), so the
SQLMesh environment that a pull request's plan step creates is the one its Dagster+ branch
deployment reads.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BranchDeploymentEnvironmentError, InvalidInputError, ProjectNotFoundError

PROD_ENVIRONMENT = "prod"
MANIFEST_RELATIVE_PATH = Path(".dagster") / "manifest.json"

# Folders SQLMesh, dbt and this integration write at the project's top (state, logs, caches, dbt's
# `target/`): never source. Only at the top, so a model folder of that name is still source...
_IGNORED_TOP_FOLDERS = frozenset({".dagster", "logs", ".cache", "target"})
# ...while these are never source, wherever they are.
_IGNORED_FOLDERS = frozenset({"__pycache__", ".git", ".ipynb_checkpoints"})
# Editors' swap and backup files (vim, emacs, macOS): they come and go while a file is edited, and
# neither SQLMesh nor dbt reads them.
_EDITOR_SUFFIXES = ("~", ".swp", ".swo", ".swx", ".swn", ".bak")
_EDITOR_NAMES = frozenset({".DS_Store", "4913"})
# Database files by name (DuckDB's, SQLite's, their write-ahead logs and temporary files)...
_IGNORED_SUFFIXES = (
    ".duckdb",
    ".db",
    ".ddb",
    ".sqlite",
    ".sqlite3",
    ".wal",
    ".tmp",
    ".lock",
    ".pyc",
)
# ...and by content whatever their name: a DuckDB file has `DUCK` at byte 8, SQLite a fixed header.
_DUCKDB_MAGIC = (8, b"DUCK")
_SQLITE_HEADER = b"SQLite format 3\x00"


def pull_request_environment(pull_request_id: str | int) -> str:
    """Returns the SQLMesh environment name of a pull request.

    Example:
        >>> pull_request_environment(42)
        'pr_42'
    """
    text = str(pull_request_id).strip()
    if not re.fullmatch(r"[0-9]+", text):
        raise InvalidInputError(
            f"Pull request id {text!r} is not a number: pass the pull request number, e.g. 42."
        )
    return f"pr_{text}"


def environment_from_env(env: Mapping[str, str] | None = None, requested: str | None = None) -> str:
    """Returns the SQLMesh environment a run targets, from environment variables.

    `requested` (the resource's `environment`) wins, then `SQLMESH_ENVIRONMENT`; otherwise `prod`.
    A Dagster+ branch deployment (`DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT=1`) targets its pull
    request's environment, named from `DAGSTER_CLOUD_PULL_REQUEST_ID`, and refuses any other: code
    under review never reads or writes `prod` through Dagster.

    Raises:
        BranchDeploymentEnvironmentError: a branch deployment was pointed at another environment, or
            has no pull request id.
    """
    env = os.environ if env is None else env
    explicit = (requested or "").strip() or env.get("SQLMESH_ENVIRONMENT", "").strip()
    if not is_branch_deployment(env):
        return explicit or PROD_ENVIRONMENT
    pull_request = env.get("DAGSTER_CLOUD_PULL_REQUEST_ID", "").strip()
    if not pull_request:
        raise BranchDeploymentEnvironmentError(None, explicit or PROD_ENVIRONMENT)
    own = pull_request_environment(pull_request)
    if explicit and explicit != own:
        raise BranchDeploymentEnvironmentError(own, explicit)
    return own


def is_branch_deployment(env: Mapping[str, str] | None = None) -> bool:
    """Whether this process runs in a Dagster+ branch deployment (a pull request's)."""
    env = os.environ if env is None else env
    return env.get("DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT", "").strip().lower() in {"1", "true"}


def is_deployment(env: Mapping[str, str] | None = None) -> bool:
    """Whether this process runs in a Dagster+ deployment (full or branch) rather than locally."""
    env = os.environ if env is None else env
    return bool(env.get("DAGSTER_CLOUD_DEPLOYMENT_NAME", "").strip())


def is_database_file(path: Path) -> bool:
    """Whether a file is a DuckDB or SQLite database, judged by its first bytes, not its name.

    `sqlmesh init` names its DuckDB file `db.db`; a database (or its write-ahead log, named after
    it) changes on every run and is data, not project source.
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError:
        return False
    offset, magic = _DUCKDB_MAGIC
    return head[offset : offset + len(magic)] == magic or head.startswith(_SQLITE_HEADER)


def _is_source_file(path: Path) -> bool:
    """Whether a file found in the project is source (see `SQLMeshProject.source_files`)."""
    name = path.name
    if name.endswith(_IGNORED_SUFFIXES) or _is_editor_file(name):
        return False
    try:
        status = path.stat()  # through a symlink, to what it points at
    except OSError:
        return False  # a dangling symlink, a loop of links, or a file removed meanwhile
    return stat.S_ISREG(status.st_mode) and not is_database_file(path)


def _is_editor_file(name: str) -> bool:
    # Never by a name SQLMesh could read (`.#orders.sql`, emacs's lock, is a dangling symlink).
    return (
        name in _EDITOR_NAMES
        or name.endswith(_EDITOR_SUFFIXES)
        or (name.startswith("#") and name.endswith("#"))
    )


def repository_root(project_dir: Path) -> Path:
    """The folder a SQLMesh project's relative DuckDB paths resolve against.

    The nearest folder above `project_dir` that holds a `pyproject.toml` (the repository root);
    a copy of the project with none above it (a test's temporary copy) uses the folder that holds
    it. DuckDB would resolve a relative path from the current directory, so the SQLMesh CLI run
    from anywhere and Dagster would open different files.
    """
    project_dir = project_dir.resolve()
    for parent in project_dir.parents:
        if (parent / "pyproject.toml").is_file():
            return parent
    return project_dir.parent


def absolute_duckdb_database(database: str, base: Path) -> str:
    """A DuckDB `database` setting, a relative file path made absolute under `base`.

    In-memory databases, MotherDuck (`md:`, `motherduck:`), URLs and absolute paths are kept.

    Example:
        >>> absolute_duckdb_database("local.duckdb", Path("/repo"))
        '/repo/local.duckdb'
        >>> absolute_duckdb_database("md:analytics", Path("/repo"))
        'md:analytics'
    """
    if not database or database == ":memory:" or database.startswith(("md:", "motherduck:")):
        return database
    if "://" in database or Path(database).is_absolute():
        return database
    return str(base / database)


def absolute_duckdb_paths(settings: dict[str, Any], project_dir: Path) -> dict[str, Any]:
    """SQLMesh settings (as `config.yaml` holds them) with relative DuckDB files made absolute.

    Every gateway's `connection` and `state_connection` of type `duckdb` gets its `database`
    resolved against :func:`repository_root` of `project_dir`. The sample's `config.py` calls it
    on its `settings.yaml`; a context opened by this integration applies the same rule to any
    config (`connection/context.py`).

    Example:
        >>> config = Config.parse_obj(  # doctest: +SKIP
        ...     absolute_duckdb_paths(load_config_from_yaml(SETTINGS_FILE), PROJECT_DIR)
        ... )
    """
    base = repository_root(project_dir)
    for gateway in (settings.get("gateways") or {}).values():
        for key in ("connection", "state_connection"):
            connection = gateway.get(key) or {}
            if connection.get("type") == "duckdb" and connection.get("database"):
                connection["database"] = absolute_duckdb_database(str(connection["database"]), base)
    return settings


@dataclass(frozen=True)
class SQLMeshProject:
    """A SQLMesh project on disk and how Dagster reaches it.

    Args:
        project_dir: The folder holding SQLMesh's `config.yaml`, `models/`, `audits/`…
        gateway: The SQLMesh gateway; None means the config's `default_gateway` (which the generated
            config reads from `SQLMESH_GATEWAY`).
        manifest_path: Where the prepared manifest is written and read; defaults to
            `<project_dir>/.dagster/manifest.json`, inside the package so it ships with the code.
        working_dir: The folder relative DuckDB paths resolve against; defaults to the
            repository root (the nearest folder above the project holding a `pyproject.toml`, else
            the folder holding the project), never the current directory, so the SQLMesh CLI run
            from anywhere and Dagster open the same database file. The sample's `config.py`
            already makes its paths absolute by the same rule (:func:`absolute_duckdb_paths`).
        other_project_dirs: More SQLMesh project folders loaded together with `project_dir` in
            one context, as `sqlmesh -p <project_dir> -p <other>...` does (SQLMesh's multi-repo
            mode: projects sharing one state, each config naming its `project`). The gateway,
            state and DuckDB file are `project_dir`'s.

    Example:
        >>> project = SQLMeshProject(Path("src/my_platform/sqlmesh_project"))  # doctest: +SKIP
    """

    project_dir: Path
    gateway: str | None = None
    manifest_path: Path | None = None
    working_dir: Path | None = field(default=None)
    other_project_dirs: tuple[Path, ...] = ()

    @classmethod
    def next_to(cls, module_file: str, folder: str = "sqlmesh_project") -> SQLMeshProject:
        """Returns the project in `folder` beside (or above) the given module file."""
        start = Path(module_file).absolute().parent
        for candidate_parent in (start, *start.parents):
            candidate = candidate_parent / folder
            if (candidate / "config.yaml").exists() or (candidate / "config.py").exists():
                return cls(candidate)
        raise ProjectNotFoundError(folder, str(start))

    @property
    def project_dirs(self) -> tuple[Path, ...]:
        """Every SQLMesh project folder loaded together: `project_dir` first."""
        return (self.project_dir, *self.other_project_dirs)

    @property
    def requested_gateway(self) -> str:
        """The gateway asked for, known without loading the config ("" for the config's default).

        `gateway`, else `SQLMESH_GATEWAY` (which the generated config's `default_gateway` reads).
        A manifest records it, so one prepared for another gateway is stale; a SQLMesh context
        resolves it against the config (`context.gateway_name`), the one place that chooses.
        """
        return self.gateway or os.environ.get("SQLMESH_GATEWAY", "").strip()

    @property
    def resolved_manifest_path(self) -> Path:
        """The manifest path actually used."""
        return self.manifest_path or self.project_dir / MANIFEST_RELATIVE_PATH

    @property
    def resolved_working_dir(self) -> Path:
        """The folder relative DuckDB paths resolve against (see the class docstring).

        :func:`repository_root`, the rule the sample's `sqlmesh_project/config.py` applies too
        (through :func:`absolute_duckdb_paths`), so a config.yaml of your own with relative paths
        opens the same files from Dagster as the sample's config does.
        """
        if self.working_dir is not None:
            return self.working_dir
        return repository_root(self.project_dir)

    def plan_command(self, environment: str) -> str:
        """The CLI command that applies the current code to an environment."""
        folders = " ".join(f"-p {_display_dir(folder)}" for folder in self.project_dirs)
        return f"sqlmesh {folders} plan {environment}"

    def source_files(self) -> list[Path]:
        """The project's source files (what the manifest fingerprint covers), sorted.

        Those of every folder in `project_dirs`, in that order. Regular files only, reached
        through symlinks to files and folders as dbt reads them (a superset of SQLMesh's own
        reads, which follow file links only): dangling links, sockets, FIFOs and devices are left
        out (opening a FIFO would block), and so are databases, caches, logs, dbt's `target/` and
        editors' swap files. A folder reached twice (a link back up the tree) is walked once.
        Never raises for what it finds.
        """
        files: list[Path] = []
        for project_dir in self.project_dirs:
            files.extend(_source_files_under(project_dir))
        return files


def _display_dir(folder: Path) -> str:
    try:
        return str(folder.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(folder)


def _source_files_under(project_dir: Path) -> list[Path]:
    top = os.path.abspath(project_dir)
    walked: set[str] = set()
    files: list[Path] = []
    for root, folders, names in os.walk(top, followlinks=True):
        real = os.path.realpath(root)
        if real in walked:
            folders[:] = []
            continue
        walked.add(real)
        ignored = _IGNORED_FOLDERS | (_IGNORED_TOP_FOLDERS if root == top else frozenset())
        folders[:] = sorted(folder for folder in folders if folder not in ignored)
        files.extend(Path(root, name) for name in names if _is_source_file(Path(root, name)))
    return sorted(files)
