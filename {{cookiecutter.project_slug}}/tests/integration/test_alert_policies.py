"""The alert policy check, against Dagster+'s documented alert policy format.

The pinned CLI sends the file to Dagster+ unchecked (`alert_policies.py` says why it is checked
first). Here: a policy of each documented kind passes; broken files fail, each with its problem
named; and the command the sync runs fills the file's variables, or refuses and writes nothing.
The project's own `alert_policies.yaml` is checked in `tests/project/test_alert_policies.py`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from {{ cookiecutter.package_name }}.sqlmesh_integration.cli import main
from {{ cookiecutter.package_name }}.sqlmesh_integration.operations.alert_policies import (
    load_document,
    problems,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "alert_policies.yaml"
DEFS = ROOT / "src" / "{{ cookiecutter.package_name }}" / "defs"
EMAIL = {"email": {"email_addresses": ["data-team@example.com"]}}


def shipped() -> dict[str, Any]:
    document = load_document(SHIPPED.read_text())
    assert isinstance(document, dict)
    return document


def policy(name: str, events: list[str], targets: list[Any], **more: Any) -> dict[str, Any]:
    return {
        "name": name,
        "enabled": True,
        "event_types": events,
        "alert_targets": targets,
        "notification_service": more.pop("notification_service", EMAIL),
        **more,
    }


def test_a_policy_of_each_documented_kind_passes() -> None:
    document = {
        "alert_policies": [
            policy(
                "long runs",
                ["JOB_SUCCESS", "JOB_FAILURE", "JOB_LONG_RUNNING"],
                [
                    {
                        "long_running_job_threshold_target": {
                            "threshold_seconds": 3600,
                            "tags": [{"key": "team", "value": "data"}],
                        }
                    }
                ],
            ),
            policy(
                "health",
                ["ASSET_HEALTH_DEGRADED", "ASSET_HEALTH_HEALTHY"],
                [{"asset_group_target": {"asset_group": "marts", "location_name": "here"}}],
                notification_service={"email_owners": {"default_email_addresses": ["a@b.io"]}},
            ),
            policy(
                "schema",
                ["ASSET_TABLE_SCHEMA_CHANGE"],
                [{"asset_key_target": {"asset_key": ["marts", "orders"]}}],
                policy_options={"table_schema_change_types": ["COLUMN_REMOVED"]},
            ),
            policy(
                "ticks",
                ["TICK_FAILURE"],
                [{"schedule_or_sensor_target": {"types": ["SENSOR"]}}],
                notification_service={"pagerduty": {"integration_key": "${ALERT_PAGERDUTY}"}},
                policy_options={
                    "consecutive_failure_threshold": 2,
                    "renotify_interval_minutes": 30,
                },
            ),
            policy(
                "locations",
                ["CODE_LOCATION_ERROR"],
                [],
                notification_service={
                    "microsoft_teams": {"webhook_url": "https://example.webhook.office.com/x"}
                },
            ),
            policy(
                "queue",
                ["METRIC_MONITOR_ALERT"],
                [
                    {
                        "metric_monitor_deployment_threshold_target": {
                            "metric_name": "__dagster_runs_queued",
                            "lookback_window": 0.5,
                            "aggregation_function": "max",
                            "thresholds": {"max_allowed_value": 20},
                        }
                    }
                ],
                notification_service={
                    "slack": {"slack_workspace_name": "acme", "slack_channel_name": "data"}
                },
            ),
            policy("credits", ["INSIGHTS_CONSUMPTION_EXCEEDED"], [{"credit_limit_target": {}}]),
        ]
    }
    assert problems(document) == []


def _first(document: dict[str, Any]) -> dict[str, Any]:
    first: dict[str, Any] = document["alert_policies"][0]
    return first


def _rename_top_level(document: dict[str, Any]) -> None:
    document["alert_policy"] = document.pop("alert_policies")


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Sets a key of the first policy (dotted path); None removes it."""

    def mutate(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = _first(document)
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is None:
            del node[last]
        else:
            node[last] = value

    return mutate


def _duplicate_name(document: dict[str, Any]) -> None:
    document["alert_policies"].append(copy.deepcopy(_first(document)))


BROKEN: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("no-alert-policies-key", _rename_top_level, "one top-level key, `alert_policies`"),
    ("enabled-missing", _set("enabled", None), "`enabled` is missing"),
    ("enabled-not-boolean", _set("enabled", "on"), "`enabled` must be true or false"),
    ("misspelled-key", _set("notification_services", EMAIL), "unknown key `notification_services`"),
    ("unknown-event", _set("event_types", ["JOB_FAILED"]), "Dagster+ event types"),
    (
        "mixed-categories",
        _set("event_types", ["JOB_FAILURE", "ASSET_CHECK_SEVERITY_ERROR"]),
        "event_types mix categories (asset, job)",
    ),
    (
        "target-for-other-events",
        _set("alert_targets", [{"asset_selection_target": {"asset_selection": "*"}}]),
        "`asset_selection_target` does not fit job events",
    ),
    (
        "unknown-target",
        _set("alert_targets", [{"job_target": {}}]),
        "alert_targets[0] must be a mapping with one alert target",
    ),
    (
        "job-without-name",
        _set("alert_targets.0.run_result_target.jobs.0.job_name", None),
        "`alert_targets[0].run_result_target.jobs[0].job_name` is missing",
    ),
    (
        "long-running-without-threshold",
        _set("event_types", ["JOB_LONG_RUNNING"]),
        "JOB_LONG_RUNNING needs a `long_running_job_threshold_target`",
    ),
    (
        "two-services",
        _set("notification_service", {**EMAIL, "pagerduty": {"integration_key": "k"}}),
        "notification_service must be a mapping with one notification service",
    ),
    (
        "not-an-email",
        _set("notification_service", {"email": {"email_addresses": ["data-team"]}}),
        "email addresses or ${VARIABLE}s (not 'data-team')",
    ),
    (
        "slack-without-channel",
        _set("notification_service", {"slack": {"slack_workspace_name": "acme"}}),
        "`notification_service.slack.slack_channel_name` is missing",
    ),
    (
        "owners-on-job-alerts",
        _set("notification_service", {"email_owners": {}}),
        "email_owners is for asset alerts only",
    ),
    (
        "tick-option-on-job-alerts",
        _set("policy_options", {"consecutive_failure_threshold": 3}),
        "policy_options.consecutive_failure_threshold applies to TICK_FAILURE only",
    ),
    ("duplicate-name", _duplicate_name, "is used by an earlier policy"),
]


@pytest.mark.parametrize(
    ("mutate", "problem"), [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN]
)
def test_a_broken_file_names_its_problem(
    mutate: Callable[[dict[str, Any]], None], problem: str
) -> None:
    document = shipped()
    assert _first(document)["event_types"] == ["JOB_FAILURE"]  # the cases edit the run policy
    mutate(document)
    found = problems(document)
    assert any(problem in line for line in found), found


def test_the_sync_fills_the_variables_or_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    resolved = tmp_path / "alert_policies.yaml"
    monkeypatch.delenv("ALERT_EMAIL", raising=False)
    assert main(["alert-policies", str(SHIPPED)]) == 0  # the check alone needs no variable

    assert main(["alert-policies", str(SHIPPED), "--resolve-to", str(resolved)]) == 1
    assert "ALERT_EMAIL" in capsys.readouterr().err and not resolved.exists()

    monkeypatch.setenv("ALERT_EMAIL", "data-team@example.com")
    assert main(["alert-policies", str(SHIPPED), "--resolve-to", str(resolved)]) == 0
    text = resolved.read_text()
    assert "${" not in text and problems(yaml.safe_load(text)) == []
    filled = SHIPPED.read_text().replace("${ALERT_EMAIL}", "data-team@example.com")
    expected = yaml.safe_load(filled)
    assert yaml.safe_load(text) == expected

    broken = tmp_path / "broken.yaml"
    broken.write_text("alert_policies:\n  - name: x\n    enabled: [\n")
    assert main(["alert-policies", str(broken)]) == 1
    assert "not valid YAML" in capsys.readouterr().err
