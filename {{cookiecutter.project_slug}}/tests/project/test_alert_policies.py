"""Your `alert_policies.yaml`: Dagster+'s documented format, and it names what this project deploys.

Its code location, the SQLMesh jobs, sensors and schedules (named from each component's op), and
assets of your SQLMesh project. The deploy workflow syncs the file with the pinned CLI, which sends
it to Dagster+ unchecked.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from {{ cookiecutter.package_name }}.sqlmesh_integration import sqlmesh_definitions
from {{ cookiecutter.package_name }}.sqlmesh_integration.operations.alert_policies import (
    load_document,
    problems,
)

from ..support import prepared_manifest
from .loading import LoadedProject

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "alert_policies.yaml"
DEFS = ROOT / "src" / "{{ cookiecutter.package_name }}" / "defs"


def shipped() -> dict[str, Any]:
    document = load_document(SHIPPED.read_text())
    assert isinstance(document, dict)
    return document


def test_the_shipped_policies_follow_the_format() -> None:
    assert problems(shipped()) == []
    events = {event for item in shipped()["alert_policies"] for event in item["event_types"]}
    # What the project promises: failed runs, failed blocking checks, late assets.
    assert {"JOB_FAILURE", "ASSET_CHECK_SEVERITY_ERROR", "ASSET_FRESHNESS_FAIL"} <= events


def test_the_shipped_policies_name_what_the_project_deploys(loaded_project: LoadedProject) -> None:
    """Jobs, sensors and schedules of the SQLMesh components in defs/ (named from their ops, as
    the component names them), the code location of pyproject.toml, the SQLMesh assets."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    location = pyproject["tool"]["dg"]["project"]["code_location_name"]
    manifest = prepared_manifest(loaded_project.project)
    jobs, automations = {"__ASSET_JOB"}, set()
    for defs_yaml in DEFS.rglob("defs.yaml"):
        component = yaml.safe_load(defs_yaml.read_text())
        if not component["type"].endswith(".SQLMeshProjectComponent"):
            continue
        op = (component.get("attributes") or {}).get("op") or {}
        definitions = sqlmesh_definitions(
            loaded_project.project, manifest=manifest, name=op.get("name", "sqlmesh_models")
        )
        jobs |= {job.name for job in definitions.jobs or []}
        automations |= {item.name for item in definitions.schedules or []}
        automations |= {item.name for item in definitions.sensors or []}
    graph = loaded_project.definitions.resolve_asset_graph()

    for item in shipped()["alert_policies"]:
        for target in item["alert_targets"]:
            ((kind, body),) = target.items()
            named = [*body.get("jobs", []), *body.get("schedules_or_sensors", [])]
            for entry in named:
                assert (entry["location_name"], entry["repo_name"]) == (location, "__repository__")
            assert {entry["job_name"] for entry in body.get("jobs", [])} <= jobs, item["name"]
            assert {
                entry["name"] for entry in body.get("schedules_or_sensors", [])
            } <= automations, item["name"]
            if kind == "asset_selection_target":
                selected = dg.AssetSelection.from_string(body["asset_selection"]).resolve(graph)
                assert graph.executable_asset_keys <= selected, item["name"]
                assert not {key for key in selected if graph.get(key).is_materializable} - (
                    graph.executable_asset_keys
                )
