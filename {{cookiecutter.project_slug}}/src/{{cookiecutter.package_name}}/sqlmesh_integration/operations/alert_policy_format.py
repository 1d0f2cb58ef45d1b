"""Dagster+'s alert policy document format, as data: what `alert_policies.py` checks against.

Written from Dagster+'s "Alert policies YAML reference": the event types by category, the alert
targets (which events each fits, and its fields), the notification services and their fields, the
policy options (and the events some of them are limited to), and a policy's own keys. A field is a
:class:`Field`: a value check (a function returning what the value should be, or None), a nested
mapping, or a list of mappings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

# Event types by category; one policy's events share one category (the reference's rules 1, 2).
CATEGORIES: dict[str, frozenset[str]] = {
    "job": frozenset({"JOB_FAILURE", "JOB_SUCCESS", "JOB_LONG_RUNNING"}),
    "asset": frozenset(
        {
            "ASSET_MATERIALIZATION_SUCCESS",
            "ASSET_MATERIALIZATION_FAILURE",
            "ASSET_CHECK_PASSED",
            "ASSET_CHECK_EXECUTION_FAILURE",
            "ASSET_CHECK_SEVERITY_WARN",
            "ASSET_CHECK_SEVERITY_ERROR",
            "ASSET_FRESHNESS_PASS",
            "ASSET_FRESHNESS_WARN",
            "ASSET_FRESHNESS_FAIL",
        }
    ),
    "asset health": frozenset(
        {"ASSET_HEALTH_HEALTHY", "ASSET_HEALTH_WARNING", "ASSET_HEALTH_DEGRADED"}
    ),
    "asset schema": frozenset({"ASSET_TABLE_SCHEMA_CHANGE"}),
    "schedule or sensor": frozenset({"TICK_FAILURE"}),
    "infrastructure": frozenset(
        {"AGENT_UNAVAILABLE", "CODE_LOCATION_ERROR", "CODE_LOCATION_DEPLOY_SUCCESS"}
    ),
    "insights": frozenset({"INSIGHTS_CONSUMPTION_EXCEEDED", "METRIC_MONITOR_ALERT"}),
}
CATEGORY_OF = {event: category for category, events in CATEGORIES.items() for event in events}
ASSET_CATEGORIES = frozenset({"asset", "asset health", "asset schema"})
_SCHEMA_CHANGES = frozenset(
    {
        "COLUMN_ADDED",
        "COLUMN_REMOVED",
        "COLUMN_TYPE_CHANGED",
        "COLUMN_NULLABILITY_CHANGED",
        "COLUMN_UNIQUENESS_CHANGED",
        "COLUMN_TAGS_CHANGED",
    }
)

# A check returns what a value should be, or None when it is fine.
Check = Callable[[Any], str | None]


@dataclass(frozen=True)
class Field:
    """One key of a mapping: a value `check`ed, a mapping of `fields`, or a list of `each`."""

    check: Check | None = None
    required: bool = False
    fields: Mapping[str, Field] | None = None
    each: Mapping[str, Field] | None = None


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "a non-empty string"


def _texts(value: Any) -> str | None:
    if isinstance(value, list) and value and all(_text(item) is None for item in value):
        return None
    return "a non-empty list of strings"


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def _number(low: float, high: float | None = None, *, integer: bool = False) -> Check:
    kind = "a whole number" if integer else "a number"
    bounds = f" from {low:g} to {high:g}" if high is not None else f" of at least {low:g}"

    def check(value: Any) -> str | None:
        valid = isinstance(value, int) if integer else isinstance(value, int | float)
        if valid and not isinstance(value, bool) and low <= value <= (high or value):
            return None
        return kind + bounds

    return check


def _any_number(value: Any) -> str | None:
    return None if isinstance(value, int | float) and not isinstance(value, bool) else "a number"


def _positive(value: Any) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return None
    return "a number above 0"


def _one_of(*choices: str, upper: bool = False) -> Check:
    def check(value: Any) -> str | None:
        text = value.upper() if upper and isinstance(value, str) else value
        return None if text in choices else "one of " + ", ".join(choices)

    return check


def _email(value: Any) -> str | None:
    if isinstance(value, str) and (_EMAIL.fullmatch(value) or PLACEHOLDER.fullmatch(value)):
        return None
    return "an email address or a ${VARIABLE}"


def _emails(value: Any) -> str | None:
    expected = "a non-empty list of email addresses or ${VARIABLE}s"
    if not isinstance(value, list) or not value:
        return expected
    wrong = [item for item in value if _email(item) is not None]
    return f"{expected} (not {wrong[0]!r})" if wrong else None


def _https(value: Any) -> str | None:
    if isinstance(value, str) and (value.startswith("https://") or PLACEHOLDER.fullmatch(value)):
        return None
    return "an https:// URL or a ${VARIABLE}"


def _one_of_each(choices: frozenset[str]) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, list) and value and set(value) <= choices:
            return None
        return "a non-empty list of " + ", ".join(sorted(choices))

    return check


def _required(*names: str) -> dict[str, Field]:
    return {name: Field(_text, required=True) for name in names}


_JOB = _required("location_name", "repo_name", "job_name")
_RUN_FILTERS = {
    "jobs": Field(each=_JOB),
    "tags": Field(each={"key": Field(_text, required=True), "value": Field(_text)}),
    "location_names": Field(_texts),
}
_INSIGHTS = {
    "metric_name": Field(_text, required=True),
    "selection_period_days": Field(_number(1, integer=True), required=True),
    "threshold": Field(_any_number, required=True),
    "operator": Field(_one_of("GREATER_THAN", "LESS_THAN"), required=True),
}
_MONITOR = {
    "metric_name": Field(_text, required=True),
    "lookback_window": Field(_positive, required=True),
    "aggregation_function": Field(_one_of("SUM", "LATEST", "MAX", "MIN", upper=True), True),
    "thresholds": Field(
        required=True,
        fields={"min_allowed_value": Field(_any_number), "max_allowed_value": Field(_any_number)},
    ),
    "comparison_type": Field(_one_of("ABSOLUTE", "PERCENT_CHANGE")),
}
_INSIGHTS_EVENTS = frozenset({"INSIGHTS_CONSUMPTION_EXCEEDED"})
_MONITOR_EVENTS = frozenset({"METRIC_MONITOR_ALERT"})
# Alert targets: the event categories (or single events) each one fits, and its fields.
TARGETS: dict[str, tuple[frozenset[str], dict[str, Field]]] = {
    "run_result_target": (frozenset({"job"}), _RUN_FILTERS),
    "long_running_job_threshold_target": (
        frozenset({"job"}),
        {"threshold_seconds": Field(_positive, required=True), **_RUN_FILTERS},
    ),
    "asset_key_target": (ASSET_CATEGORIES, {"asset_key": Field(_texts, required=True)}),
    "asset_selection_target": (ASSET_CATEGORIES, _required("asset_selection")),
    "asset_group_target": (
        ASSET_CATEGORIES,
        {**_required("asset_group", "location_name"), "repo_name": Field(_text)},
    ),
    "asset_selection_view_target": (ASSET_CATEGORIES, _required("asset_selection_view_id")),
    "favorites_selection_view_target": (
        ASSET_CATEGORIES,
        {"user_email": Field(_email, required=True)},
    ),
    "schedule_or_sensor_target": (
        frozenset({"schedule or sensor"}),
        {
            "schedules_or_sensors": Field(each=_required("location_name", "repo_name", "name")),
            "location_names": Field(_texts),
            "types": Field(_one_of_each(frozenset({"SCHEDULE", "SENSOR"}))),
        },
    ),
    "code_location_target": (frozenset({"infrastructure"}), {"location_names": Field(_texts)}),
    "credit_limit_target": (_INSIGHTS_EVENTS, {}),
    "insights_deployment_threshold_target": (_INSIGHTS_EVENTS, _INSIGHTS),
    "insights_asset_group_threshold_target": (
        _INSIGHTS_EVENTS,
        {
            **_INSIGHTS,
            "asset_group": Field(
                required=True,
                fields=_required("location_name", "repo_name", "asset_group_name"),
            ),
        },
    ),
    "insights_asset_threshold_target": (
        _INSIGHTS_EVENTS,
        {**_INSIGHTS, "asset_key": Field(_texts, required=True)},
    ),
    "insights_job_threshold_target": (
        _INSIGHTS_EVENTS,
        {**_INSIGHTS, "job": Field(required=True, fields=_JOB)},
    ),
    "metric_monitor_asset_selection_threshold_target": (
        _MONITOR_EVENTS,
        {
            **_MONITOR,
            **_required("asset_selection"),
            "combine_fn": Field(_one_of("ANY", "ALL"), required=True),
        },
    ),
    "metric_monitor_deployment_threshold_target": (_MONITOR_EVENTS, _MONITOR),
}
NOTIFICATION_SERVICES: dict[str, dict[str, Field]] = {
    "email": {"email_addresses": Field(_emails, required=True)},
    "email_owners": {"default_email_addresses": Field(_emails)},
    "slack": _required("slack_workspace_name", "slack_channel_name"),
    "microsoft_teams": {"webhook_url": Field(_https, required=True)},
    "pagerduty": _required("integration_key"),
}
_OPTIONS = {
    "include_description_in_notification": Field(_boolean),
    "consecutive_failure_threshold": Field(_number(1, 100, integer=True)),
    "renotify_interval_minutes": Field(_number(1, integer=True)),
    "table_schema_change_types": Field(_one_of_each(_SCHEMA_CHANGES)),
}
# Options only some events take (the reference's rules 8 and 9, and its policy options).
OPTION_EVENTS = {
    "consecutive_failure_threshold": frozenset({"TICK_FAILURE"}),
    "renotify_interval_minutes": frozenset(
        {"TICK_FAILURE", "AGENT_UNAVAILABLE", "CODE_LOCATION_ERROR"}
    ),
    "table_schema_change_types": frozenset({"ASSET_TABLE_SCHEMA_CHANGE"}),
}


def _description(value: Any) -> str | None:
    return None if isinstance(value, str) else "a string"


def _event_types(value: Any) -> str | None:
    if isinstance(value, list) and value and all(event in CATEGORY_OF for event in value):
        return None
    return "a non-empty list of Dagster+ event types (JOB_FAILURE, ASSET_CHECK_SEVERITY_ERROR, ...)"


def _list(value: Any) -> str | None:
    return None if isinstance(value, list) else "a list (empty: every entity the events concern)"


POLICY = {
    "name": Field(_text, required=True),
    "description": Field(_description),
    "enabled": Field(_boolean, required=True),
    "event_types": Field(_event_types, required=True),
    "alert_targets": Field(_list),
    "notification_service": Field(required=True),  # one of NOTIFICATION_SERVICES: _one_key
    "policy_options": Field(fields=_OPTIONS),
}
