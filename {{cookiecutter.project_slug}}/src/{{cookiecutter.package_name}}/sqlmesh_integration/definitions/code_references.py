"""Where each asset's "SQLMesh model" link points: the local file, or the file on GitHub.

Locally the link opens the model file on disk. In a Dagster+ deployment that file sits inside a
deployed package nobody can open, so the link goes to the file in the git repository at the
deployed commit instead:

- the repository address is `DAGSTER_CLOUD_GIT_URL` (set by Dagster+), else the one recorded when
  the manifest was prepared in CI (`GITHUB_SERVER_URL`/`GITHUB_REPOSITORY`);
- the commit is `DAGSTER_CLOUD_GIT_SHA`, else `DAGSTER_CLOUD_GIT_BRANCH` (Dagster+), else the
  commit CI prepared the manifest from (`DEPLOY_COMMIT_SHA`, else `GITHUB_SHA`);
- the file's path in the repository is the project's folder there (recorded at prepare time,
  when the checkout is around it) joined with the model's path in the project.

When any of them is unknown the link stays local rather than pointing somewhere wrong.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from .manifest import SQLMeshSourceRepository
from .project import is_deployment

CODE_REFERENCE_LABEL = "SQLMesh model"
# `dg plus deploy start --git-url` gets `<repository>/tree/<commit>` (scripts/ci/dagster-deploy.sh).
_TREE_SUFFIX = re.compile(r"/(?:-/)?(?:tree|blob)/[^/]+/?$")


def source_repository(
    project_dir: Path, env: Mapping[str, str] | None = None
) -> SQLMeshSourceRepository | None:
    """The project's place in its git repository, or None outside a git checkout.

    Called when the manifest is prepared; the address and commit come from GitHub Actions'
    variables when they are set.
    """
    env = os.environ if env is None else env
    resolved = project_dir.resolve()
    root = next(
        (folder for folder in (resolved, *resolved.parents) if (folder / ".git").exists()), None
    )
    if root is None:
        return None
    server = env.get("GITHUB_SERVER_URL", "https://github.com").strip().rstrip("/")
    repository = env.get("GITHUB_REPOSITORY", "").strip()
    revision = env.get("DEPLOY_COMMIT_SHA", "").strip() or env.get("GITHUB_SHA", "").strip()
    return SQLMeshSourceRepository(
        project_path=resolved.relative_to(root).as_posix(),
        url=f"{server}/{repository}" if repository else None,
        revision=revision or None,
    )


def git_file_url(
    repository: SQLMeshSourceRepository | None,
    file_path: str,
    env: Mapping[str, str] | None = None,
) -> str | None:
    """The address of a project file in the git repository, in a Dagster+ deployment only.

    Args:
        repository: What the manifest recorded of the repository.
        file_path: The file's path relative to the SQLMesh project.
        env: Environment variables (the process's when None).

    Returns:
        `<repository>/blob/<commit>/<path>` (GitLab: `/-/blob/`), or None when not deployed or
        when the repository, the commit or the project's folder in it is unknown.

    Example:
        >>> git_file_url(
        ...     SQLMeshSourceRepository("src/shop/sqlmesh_project"),
        ...     "models/orders.sql",
        ...     {
        ...         "DAGSTER_CLOUD_DEPLOYMENT_NAME": "prod",
        ...         "DAGSTER_CLOUD_GIT_URL": "https://github.com/acme/shop",
        ...         "DAGSTER_CLOUD_GIT_SHA": "abc123",
        ...     },
        ... )
        'https://github.com/acme/shop/blob/abc123/src/shop/sqlmesh_project/models/orders.sql'
    """
    env = os.environ if env is None else env
    if not is_deployment(env) or repository is None:
        return None
    url = env.get("DAGSTER_CLOUD_GIT_URL", "").strip() or repository.url
    revision = (
        env.get("DAGSTER_CLOUD_GIT_SHA", "").strip()
        or env.get("DAGSTER_CLOUD_GIT_BRANCH", "").strip()
        or repository.revision
    )
    if not url or not revision:
        return None
    base = _TREE_SUFFIX.sub("", url.rstrip("/")).removesuffix(".git")
    blob = "/-/blob/" if "gitlab" in base else "/blob/"
    path = "/".join(part for part in (repository.project_path, file_path) if part)
    return f"{base}{blob}{revision}/{path}"


def code_reference(
    project_dir: Path,
    file_path: str,
    repository: SQLMeshSourceRepository | None = None,
    env: Mapping[str, str] | None = None,
) -> dg.CodeReferencesMetadataValue:
    """The asset's link to its model file: on GitHub when deployed (see above), else local."""
    url = git_file_url(repository, file_path, env)
    with warnings.catch_warnings():
        # Code references are a beta API: one warning per asset would flood every load's output.
        warnings.simplefilter("ignore", dg.BetaWarning)
        reference: dg.UrlCodeReference | dg.LocalFileCodeReference = (
            dg.UrlCodeReference(url=url, label=CODE_REFERENCE_LABEL)
            if url
            else dg.LocalFileCodeReference(
                file_path=str(project_dir / file_path), label=CODE_REFERENCE_LABEL
            )
        )
        return dg.CodeReferencesMetadataValue(code_references=[reference])
