"""The deploy workflow's alert policy sync, against a stand-in for Dagster+'s API.

The `alerts` job of deploy.yml runs `scripts/ci/sync-alert-policies.sh`: it checks
alert_policies.yaml against Dagster+'s format, fills its variables into a temporary copy and syncs
the copy with the pinned `dagster-cloud deployment alert-policies sync`. Dagster+ is replaced by a
local HTTP server (DAGSTER_CLOUD_URL) that answers the CLI's GraphQL mutation as Dagster+ does and
records each request: the one stand-in the tests allow themselves, for Dagster+'s API. Asserted:
what Dagster+ receives is the shipped file with its variables filled, with the alerts token and the
deployment; a file that breaks the format, or a variable left unset, stops the job before anything
is sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml
from projects import CommandFailed, Project

pytestmark = pytest.mark.slow

TOKEN = "user-token-for-alerts"  # not a secret: the stand-in accepts any


class _DagsterPlus(BaseHTTPRequestHandler):
    """Answers `reconcileAlertPoliciesFromDocument` as Dagster+ does; records every request."""

    requests: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        document = body.get("variables", {}).get("document") or {}
        names = [{"name": item["name"]} for item in document.get("alert_policies", [])]
        answer = {
            "data": {
                "reconcileAlertPoliciesFromDocument": {
                    "__typename": "ReconcileAlertPoliciesSuccess",
                    "alertPolicies": names,
                }
            }
        }
        payload = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def dagster_plus() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The stand-in's URL (a free port) and the requests it received."""
    requests: list[dict[str, Any]] = []
    handler = type("Handler", (_DagsterPlus,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/prod", requests
    finally:
        server.shutdown()
        server.server_close()


def sync(project: Project, url: str, **env: str) -> None:
    project.run(
        "bash scripts/ci/sync-alert-policies.sh",
        env={
            "DAGSTER_CLOUD_URL": url,
            "DAGSTER_CLOUD_ORGANIZATION": "acme",
            "DAGSTER_CLOUD_ALERTS_TOKEN": TOKEN,
            **env,
        },
        timeout=600,
    )


def test_the_sync_sends_the_checked_file_with_its_variables_filled(
    project_copy: Project, dagster_plus: tuple[str, list[dict[str, Any]]]
) -> None:
    url, requests = dagster_plus
    shipped = (project_copy.path / "alert_policies.yaml").read_text()

    with pytest.raises(CommandFailed, match="ALERT_EMAIL"):
        sync(project_copy, url)  # the variable is not set: nothing is sent
    assert requests == []

    sync(project_copy, url, ALERT_EMAIL="data-alerts@example.com")

    (request,) = requests
    assert request["path"] == "/prod/graphql"
    assert request["headers"]["Dagster-Cloud-Api-Token"] == TOKEN
    assert request["headers"]["Dagster-Cloud-Deployment"] == "prod"
    assert "reconcileAlertPoliciesFromDocument" in request["body"]["query"]
    expected = yaml.safe_load(shipped.replace("${ALERT_EMAIL}", "data-alerts@example.com"))
    assert request["body"]["variables"]["document"] == expected

    # A file that breaks Dagster+'s format never reaches it (the CLI would send it as it is).
    broken = shipped.replace(
        "event_types:\n      - JOB_FAILURE", "event_types:\n      - JOB_FAILED"
    )
    assert broken != shipped
    (project_copy.path / "alert_policies.yaml").write_text(broken)
    with pytest.raises(CommandFailed, match="Dagster\\+ event types"):
        sync(project_copy, url, ALERT_EMAIL="data-alerts@example.com")
    assert len(requests) == 1
