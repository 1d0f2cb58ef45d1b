"""Where the SQLMesh project lives, which gateway and which environment a run targets.

The environment naming function here is the one CI uses too (`sqlmesh-dagster environment`), so the
SQLMesh environment that a pull request's plan step creates is the one its Dagster+ branch
deployment reads.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BranchDeploymentEnvironmentError

PROD_ENVIRONMENT = "prod"
MANIFEST_RELATIVE_PATH = Path(".dagster") / "manifest.json"

# Files SQLMesh writes into (or next to) a project that are not project source.
_IGNORED_PARTS = frozenset({".dagster", "logs", "__pycache__", ".cache", "target"})
_IGNORED_SUFFIXES = (".duckdb", ".duckdb.wal", ".lock", ".pyc")


def pull_request_environment(pull_request_id: str | int) -> str:
    """Returns the SQLMesh environment name of a pull request.

    Example:
        >>> pull_request_environment(42)
        'pr_42'
    """
    text = str(pull_request_id).strip()
    if not re.fullmatch(r"[0-9]+", text):
        raise ValueError(
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
    if env.get("DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT", "").strip().lower() not in {"1", "true"}:
        return explicit or PROD_ENVIRONMENT
    pull_request = env.get("DAGSTER_CLOUD_PULL_REQUEST_ID", "").strip()
    if not pull_request:
        raise BranchDeploymentEnvironmentError(None, explicit or PROD_ENVIRONMENT)
    own = pull_request_environment(pull_request)
    if explicit and explicit != own:
        raise BranchDeploymentEnvironmentError(own, explicit)
    return own


def is_deployment(env: Mapping[str, str] | None = None) -> bool:
    """Whether this process runs in a Dagster+ deployment (full or branch) rather than locally."""
    env = os.environ if env is None else env
    return bool(env.get("DAGSTER_CLOUD_DEPLOYMENT_NAME", "").strip())


@dataclass(frozen=True)
class SQLMeshProject:
    """A SQLMesh project on disk and how Dagster reaches it.

    Args:
        project_dir: The folder holding SQLMesh's `config.yaml`, `models/`, `audits/`…
        gateway: The SQLMesh gateway; None means the config's `default_gateway` (which the generated
            config reads from `SQLMESH_GATEWAY`).
        manifest_path: Where the prepared manifest is written and read; defaults to
            `<project_dir>/.dagster/manifest.json`, inside the package so it ships with the code.
        working_dir: The folder relative paths in `config.yaml` (the local DuckDB file) resolve
            against;
            defaults to the repository root holding `pyproject.toml`, the folder the README runs
            every
            command from, so the CLI and Dagster open the same database wherever Dagster was
            started.

    Example:
        >>> project = SQLMeshProject(Path("src/my_platform/sqlmesh_project"))  # doctest: +SKIP
    """

    project_dir: Path
    gateway: str | None = None
    manifest_path: Path | None = None
    working_dir: Path | None = field(default=None)

    @classmethod
    def next_to(cls, module_file: str, folder: str = "sqlmesh_project") -> SQLMeshProject:
        """Returns the project in `folder` beside (or above) the given module file."""
        start = Path(module_file).absolute().parent
        for candidate_parent in (start, *start.parents):
            candidate = candidate_parent / folder
            if (candidate / "config.yaml").exists() or (candidate / "config.py").exists():
                return cls(candidate)
        raise FileNotFoundError(
            f"No SQLMesh project folder `{folder}` with a config.yaml above {start}: "
            "pass its path to SQLMeshProject."
        )

    @property
    def resolved_manifest_path(self) -> Path:
        """The manifest path actually used."""
        return self.manifest_path or self.project_dir / MANIFEST_RELATIVE_PATH

    @property
    def resolved_working_dir(self) -> Path:
        """The folder relative DuckDB paths resolve against (see the class docstring)."""
        if self.working_dir is not None:
            return self.working_dir
        project_dir = self.project_dir.resolve()
        # An installed wheel also carries a pyproject.toml (dg reads it), in site-packages: not a
        # root.
        if "site-packages" not in project_dir.parts:
            for parent in project_dir.parents:
                if (parent / "pyproject.toml").exists():
                    return parent
        return Path.cwd()

    def plan_command(self, environment: str) -> str:
        """The CLI command that applies the current code to an environment."""
        return f"sqlmesh -p {self._display_dir()} plan {environment}"

    def source_files(self) -> list[Path]:
        """The project's source files (what the manifest fingerprint covers), sorted."""
        files: list[Path] = []
        # os.walk prunes SQLMesh's `.cache` and `logs` folders instead of listing their files.
        for root, folders, names in os.walk(self.project_dir):
            folders[:] = sorted(folder for folder in folders if folder not in _IGNORED_PARTS)
            files.extend(Path(root, name) for name in names if not name.endswith(_IGNORED_SUFFIXES))
        return sorted(files)

    def _display_dir(self) -> str:
        try:
            return str(self.project_dir.resolve().relative_to(Path.cwd()))
        except ValueError:
            return str(self.project_dir)
