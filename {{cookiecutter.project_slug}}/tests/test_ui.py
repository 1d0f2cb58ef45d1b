"""The asset page as the Dagster UI shows it: asked of a running webserver's GraphQL API.

The sample is applied and materialized through Dagster into a Dagster instance of its own; then
`dagster-webserver` serves a code location with the sample's assets (what `dg dev` runs, without
the daemon) and the test reads what the UI reads: column lineage, checks, freshness policy, owners,
kinds, and the row count on the latest materialization, compared with the table in DuckDB.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from {{ cookiecutter.package_name }}.sqlmesh_integration import sqlmesh_definitions

from .support import SampleProject, prepared_manifest

pytestmark = pytest.mark.slow

ASSET_QUERY = """
query Asset($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    __typename
    ... on AssetNode {
      isMaterializable
      kinds
      owners { ... on TeamAssetOwner { team } ... on UserAssetOwner { email } }
      internalFreshnessPolicy {
        ... on CronFreshnessPolicy { deadlineCron lowerBoundDeltaSeconds timezone }
      }
      assetChecksOrError { ... on AssetChecks { checks { name blocking } } }
      metadataEntries {
        label
        ... on TableColumnLineageMetadataEntry {
          lineage { columnName columnDeps { assetKey { path } columnName } }
        }
      }
      assetMaterializations(limit: 1) {
        metadataEntries { label ... on IntMetadataEntry { intRepr } }
      }
    }
  }
}
"""


@pytest.fixture
def webserver(
    applied_sample: SampleProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The GraphQL address of a webserver serving the materialized sample; stopped afterwards."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    project = applied_sample.project
    definitions = sqlmesh_definitions(project, manifest=prepared_manifest(project))
    with dg.DagsterInstance.get() as instance:
        result = definitions.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance
        )
    assert result.success
    location = tmp_path / "location.py"
    location.write_text(
        textwrap.dedent(
            f"""
            from pathlib import Path
            from {{ cookiecutter.package_name }}.sqlmesh_integration import (
                SQLMeshProject,
                sqlmesh_definitions,
            )

            project = SQLMeshProject(
                Path({str(project.project_dir)!r}),
                gateway="local",
                working_dir=Path({str(project.working_dir)!r}),
            )
            defs = sqlmesh_definitions(project)
            """
        )
    )
    port = _free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster-webserver"),
            *("-f", str(location), "-h", "127.0.0.1", "-p", str(port)),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.communicate()


def test_the_asset_page_shows_lineage_checks_freshness_owners_and_row_counts(
    webserver: str, applied_sample: SampleProject
) -> None:
    customers = asset_node(webserver, ["marts", "customers"])

    assert customers["isMaterializable"]
    assert {"sqlmesh", "duckdb"} <= set(customers["kinds"])
    assert customers["owners"] == [{"team": "analytics"}]
    assert customers["internalFreshnessPolicy"] == {
        "deadlineCron": "0 1 * * *",  # @daily plus the default grace period of one hour
        "lowerBoundDeltaSeconds": 3600,
        "timezone": "UTC",
    }
    checks = {
        check["name"]: check["blocking"] for check in customers["assetChecksOrError"]["checks"]
    }
    assert checks["unique_values"] and not checks["match_like_pattern_list_non_blocking"]
    lineage = column_lineage(customers)
    assert lineage["full_name"] == [("staging/stg_customers", "full_name")]
    (materialization,) = customers["assetMaterializations"]
    entries = {entry["label"]: entry.get("intRepr") for entry in materialization["metadataEntries"]}
    assert "dagster/column_lineage" in entries  # repeated where Dagster reads it
    assert entries["dagster/row_count"] == str(
        applied_sample.query("SELECT COUNT(*) FROM marts.customers")[0][0]
    )

    rates = asset_node(webserver, ["raw", "exchange_rates"])
    assert not rates["isMaterializable"]  # an external asset
    external = next(t for t in prepared_manifest(applied_sample.project).external_tables)
    assert sorted(check["name"] for check in rates["assetChecksOrError"]["checks"]) == sorted(
        audit.name for audit in external.audits
    )
    staging_rates = column_lineage(asset_node(webserver, ["staging", "stg_exchange_rates"]))
    assert staging_rates["usd_per_unit"] == [("raw/exchange_rates", "usd_per_unit")]


def asset_node(url: str, path: list[str]) -> dict[str, Any]:
    """The asset's node, once the webserver has loaded the code location."""
    deadline = time.monotonic() + 300
    while True:
        try:
            node = graphql(url, ASSET_QUERY, {"path": path})["assetNodeOrError"]
            if node["__typename"] == "AssetNode":
                return node  # type: ignore[no-any-return]
        except OSError:
            pass  # not serving yet
        if time.monotonic() > deadline:
            pytest.fail(f"the webserver never served asset {'/'.join(path)}")
        time.sleep(1)


def graphql(url: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        body = json.loads(reply.read())
    assert "errors" not in body, body["errors"]
    return body["data"]  # type: ignore[no-any-return]


def column_lineage(node: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    (entry,) = [entry for entry in node["metadataEntries"] if "lineage" in entry]
    return {
        column["columnName"]: [
            ("/".join(dep["assetKey"]["path"]), dep["columnName"]) for dep in column["columnDeps"]
        ]
        for column in entry["lineage"]
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
