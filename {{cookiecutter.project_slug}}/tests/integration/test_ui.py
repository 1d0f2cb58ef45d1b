"""The asset page as the Dagster UI shows it: asked of `dg dev`'s GraphQL API.

The test copies this repository's own files (`pyproject.toml`, `src/`, the shipped
`dagster_home/dagster.yaml`) into a folder of its own, with the shop fixture project in place of
`src/<package>/sqlmesh_project/` and applied in its DuckDB file. It materializes every model into
that Dagster instance, starts `uv run dg dev` there (the webserver, the daemon and the code
location: the component of `defs/sqlmesh/defs.yaml`, its state refreshed as `dg dev` loads it) and
reads what the UI reads: column lineage, checks, freshness policy, owners, kinds, and the row count
on the latest materialization, compared with the table in DuckDB; the external source is an
external asset with its audit as a check; and after the full run no asset is Unsynced.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

import {{ cookiecutter.package_name }}
from {{ cookiecutter.package_name }}.sqlmesh_integration import SQLMeshProjectComponent

from ..support import SHOP_PROJECT_DIR, SampleProject, sqlmesh_model_keys

pytestmark = pytest.mark.slow

REPOSITORY_ROOT = Path(__file__).parent.parent.parent
PACKAGE_NAME = {{ cookiecutter.package_name }}.__name__
# Left behind by local use; a fresh render has none of them.
_NOT_RENDERED = shutil.ignore_patterns(
    ".local_defs_state", ".dagster", ".cache", "logs", "__pycache__", "*.duckdb*", "*.lock"
)

ASSET_QUERY = """
query Asset($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    __typename
    ... on AssetNode {
      repository { location { name } }
      groupName
      isMaterializable
      isExecutable
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


# What the UI's Unsynced label is computed from (Dagster's stale status).
SYNC_QUERY = """
query Sync {
  assetNodes {
    assetKey { path }
    isMaterializable
    staleStatus
    staleCauses { reason }
    partitionKeys
  }
}
"""
PARTITIONS_SYNC_QUERY = """
query PartitionsSync($path: [String!]!, $partitions: [String!]) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode { staleStatusByPartition(partitions: $partitions) }
  }
}
"""


@pytest.fixture
def dg_dev(
    applied_sample: SampleProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Path]]:
    """`dg dev` serving a materialized copy of this project: its GraphQL address and its folder.

    Stopped afterwards.
    """
    render = tmp_path / "render"
    render.mkdir()
    shutil.copy2(REPOSITORY_ROOT / "pyproject.toml", render)
    shutil.copytree(REPOSITORY_ROOT / "src", render / "src", ignore=_NOT_RENDERED)
    package = render / "src" / PACKAGE_NAME
    # The fixture project where defs/sqlmesh/defs.yaml looks for the SQLMesh project.
    shutil.rmtree(package / "sqlmesh_project")
    shutil.copytree(SHOP_PROJECT_DIR, package / "sqlmesh_project", ignore=_NOT_RENDERED)
    (render / "dagster_home").mkdir()
    shutil.copy2(REPOSITORY_ROOT / "dagster_home" / "dagster.yaml", render / "dagster_home")
    # The shop applied to prod (as the quickstart's `sqlmesh plan` leaves it): config.py puts
    # local.duckdb in the repository root, here the copy's.
    shutil.copy2(applied_sample.root / "local.duckdb", render / "local.duckdb")
    environment = {
        **os.environ,
        "DAGSTER_HOME": str(render / "dagster_home"),
        # The copy's package, not the installed one: its defs.yaml, its SQLMesh project.
        "PYTHONPATH": os.pathsep.join([str(render / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    monkeypatch.setenv("DAGSTER_HOME", environment["DAGSTER_HOME"])
    _materialize_everything(package / "sqlmesh_project", tmp_path / "state")

    port = _free_port()
    log = tmp_path / "dg_dev.log"
    with log.open("w") as output:
        # Its output goes to a file: a pipe nobody reads would fill up and stall the server.
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "dg"),
                *("dev", "--host", "127.0.0.1", "--port", str(port)),
            ],
            cwd=render,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        yield f"http://127.0.0.1:{port}/graphql", render
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        print(log.read_text()[-5000:])  # shown when the test fails


def _materialize_everything(project_dir: Path, state: Path) -> None:
    """Every model materialized into the copy's instance, through the component as configured."""
    component = SQLMeshProjectComponent(project=str(project_dir))
    component.write_state_to_path(state)
    definitions = component.build_defs_from_state(None, state)  # type: ignore[arg-type]
    with dg.DagsterInstance.get() as instance:
        result = definitions.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance
        )
    assert result.success


def test_the_asset_page_shows_lineage_checks_freshness_owners_and_row_counts(
    dg_dev: tuple[str, Path], applied_sample: SampleProject
) -> None:
    url, render = dg_dev
    customers = asset_node(url, ["marts", "customers"])

    # Served from the render's own component: `dg dev` prepared its state there as it loaded.
    assert (render / "src" / PACKAGE_NAME / "defs" / ".local_defs_state").is_dir()

    assert customers["repository"]["location"]["name"] == "{{ cookiecutter.project_slug }}"
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
    assert checks == {
        "unique_values": True,
        "not_null": True,
        "accepted_range": True,
        "accepted_values": True,
        "match_like_pattern_list_non_blocking": False,
    }
    lineage = column_lineage(customers)
    assert lineage["full_name"] == [("staging/stg_customers", "full_name")]
    assert lineage["email"] == [("staging/stg_customers", "email")]
    (materialization,) = customers["assetMaterializations"]
    entries = {entry["label"]: entry.get("intRepr") for entry in materialization["metadataEntries"]}
    assert "dagster/column_lineage" in entries  # repeated where Dagster reads it
    with duckdb.connect(str(render / "local.duckdb"), read_only=True) as database:
        (row,) = database.execute("SELECT COUNT(*) FROM marts.customers").fetchall()
    assert entries["dagster/row_count"] == str(row[0]) != "0"

    rates = asset_node(url, ["raw", "exchange_rates"])
    assert not rates["isMaterializable"] and not rates["isExecutable"]  # an external asset
    assert rates["groupName"] == "sources"
    assert [check["name"] for check in rates["assetChecksOrError"]["checks"]] == ["not_null"]
    staging_rates = column_lineage(asset_node(url, ["staging", "stg_exchange_rates"]))
    assert staging_rates["usd_per_unit"] == [("raw/exchange_rates", "usd_per_unit")]

    # The run that built everything leaves nothing Unsynced: a materialization logged as an event
    # carries its parents' data versions, as Dagster writes them on outputs.
    nodes = graphql(url, SYNC_QUERY, {})["assetNodes"]
    nodes = [node for node in nodes if node["isMaterializable"]]
    served = {"/".join(node["assetKey"]["path"]) for node in nodes}
    assert served == sqlmesh_model_keys(applied_sample.project)
    unsynced = {
        "/".join(node["assetKey"]["path"]): node["staleCauses"]
        for node in nodes
        if node["staleStatus"] != "FRESH"
    }
    assert unsynced == {}
    partitioned = [node for node in nodes if node["partitionKeys"]]
    assert {"/".join(node["assetKey"]["path"]) for node in partitioned} == {
        "marts/orders",
        "marts/daily_revenue",
    }
    for node in partitioned:
        variables = {"path": node["assetKey"]["path"], "partitions": node["partitionKeys"]}
        answer = graphql(url, PARTITIONS_SYNC_QUERY, variables)["assetNodeOrError"]
        assert set(answer["staleStatusByPartition"]) == {"FRESH"}, node["assetKey"]


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
        time.sleep(0.2)


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
