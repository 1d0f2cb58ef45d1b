"""Several gateways in one project: each component loads the gateway it names, and a manifest
prepared for one gateway is never loaded for another."""

from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.sqlmesh_integration import SQLMeshProjectComponent
from {{ cookiecutter.package_name }}.sqlmesh_integration.definitions.manifest import read_manifest
from {{ cookiecutter.package_name }}.sqlmesh_integration.errors import ManifestStaleError

from ..support import SampleProject


def test_a_manifest_belongs_to_its_gateway(sample: SampleProject, tmp_path: Path) -> None:
    project_dir = str(sample.project.project_dir)
    local = SQLMeshProjectComponent(project=project_dir, gateway="local")
    ci = SQLMeshProjectComponent(project=project_dir, gateway="ci")
    state = tmp_path / "state"
    local.write_state_to_path(state)
    assert read_manifest(state).gateway == "local"
    assert local.build_defs_from_state(None, state)  # type: ignore[arg-type]

    with pytest.raises(ManifestStaleError, match="refresh-defs-state"):
        ci.build_defs_from_state(None, state)  # type: ignore[arg-type]

    ci.write_state_to_path(state)
    assert read_manifest(state).gateway == "ci"
    assert ci.build_defs_from_state(None, state)  # type: ignore[arg-type]
