"""Dagster+ alert policies as code: `alert_policies.yaml`, checked before it is synced.

The deploy workflow syncs the file with the pinned Dagster+ CLI (`dagster-cloud deployment
alert-policies sync`), which sends it to Dagster+ without looking at it, and a sync replaces every
code-backed policy. So the file is checked here first, in the project's tests and again in the
sync job, against the document format Dagster+ documents ("Alert policies YAML reference"): the
top-level `alert_policies` list; each policy's keys; the event types and the categories they fall
into; which alert targets fit which events, with their fields; the notification services; the
policy options; and the reference's validation rules (one category per policy, the long-running
and schema-change requirements, one target for insights and metric monitors, the metric monitor
thresholds, the options that only some events take, `email_owners` for asset alerts only).

Notification targets are variables: a string value may hold `${NAME}` (for example
`${ALERT_EMAIL}`), filled from the environment when the file is resolved for a sync
(:func:`resolve`): the workflow maps GitHub variables into it, so addresses and channels are not in
the repository.

Example:
    >>> problems(load_document("alert_policies: []"))
    []
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import AlertPoliciesError

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
_CATEGORY_OF = {event: category for category, events in CATEGORIES.items() for event in events}
_ASSET_CATEGORIES = frozenset({"asset", "asset health", "asset schema"})
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
    "asset_key_target": (_ASSET_CATEGORIES, {"asset_key": Field(_texts, required=True)}),
    "asset_selection_target": (_ASSET_CATEGORIES, _required("asset_selection")),
    "asset_group_target": (
        _ASSET_CATEGORIES,
        {**_required("asset_group", "location_name"), "repo_name": Field(_text)},
    ),
    "asset_selection_view_target": (_ASSET_CATEGORIES, _required("asset_selection_view_id")),
    "favorites_selection_view_target": (
        _ASSET_CATEGORIES,
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
_OPTION_EVENTS = {
    "consecutive_failure_threshold": frozenset({"TICK_FAILURE"}),
    "renotify_interval_minutes": frozenset(
        {"TICK_FAILURE", "AGENT_UNAVAILABLE", "CODE_LOCATION_ERROR"}
    ),
    "table_schema_change_types": frozenset({"ASSET_TABLE_SCHEMA_CHANGE"}),
}


def _description(value: Any) -> str | None:
    return None if isinstance(value, str) else "a string"


def _event_types(value: Any) -> str | None:
    if isinstance(value, list) and value and all(event in _CATEGORY_OF for event in value):
        return None
    return "a non-empty list of Dagster+ event types (JOB_FAILURE, ASSET_CHECK_SEVERITY_ERROR, ...)"


def _list(value: Any) -> str | None:
    return None if isinstance(value, list) else "a list (empty: every entity the events concern)"


_POLICY = {
    "name": Field(_text, required=True),
    "description": Field(_description),
    "enabled": Field(_boolean, required=True),
    "event_types": Field(_event_types, required=True),
    "alert_targets": Field(_list),
    "notification_service": Field(required=True),  # one of NOTIFICATION_SERVICES: _one_key
    "policy_options": Field(fields=_OPTIONS),
}


def load_document(text: str) -> Any:
    """The YAML document of an alert policy file.

    Raises:
        AlertPoliciesError: the text is not YAML.
    """
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise AlertPoliciesError(
            f"The alert policy file is not valid YAML ({str(error).splitlines()[0]}): fix its "
            "syntax."
        ) from error


def problems(document: Any) -> list[str]:
    """What is wrong with an alert policy document, one sentence each; empty when nothing is."""
    if not isinstance(document, dict) or set(document) != {"alert_policies"}:
        return ["the file must hold one top-level key, `alert_policies`, with a list of policies"]
    policies = document["alert_policies"]
    if not isinstance(policies, list):
        return ["`alert_policies` must be a list of policies"]
    found: list[str] = []
    seen: set[str] = set()
    for index, policy in enumerate(policies):
        name = policy.get("name") if isinstance(policy, dict) else None
        where = f"alert_policies[{index}]" + (f" ({name})" if isinstance(name, str) else "")
        if not isinstance(policy, dict):
            found.append(f"{where} must be a mapping")
            continue
        if isinstance(name, str) and name in seen:
            found.append(
                f"{where}: the name `{name}` is used by an earlier policy; names are unique"
            )
        seen.add(name if isinstance(name, str) else "")
        found += [f"{where}: {problem}" for problem in _policy_problems(policy)]
    return found


def check_document(document: Any, source: str = "alert_policies.yaml") -> None:
    """Raises :class:`AlertPoliciesError` listing every problem of the document, if any."""
    found = problems(document)
    if found:
        listed = "\n".join(f"- {problem}" for problem in found)
        raise AlertPoliciesError(
            f"{source} is not a valid Dagster+ alert policy file; fix these (the format is in "
            f"docs/operations.md, Alerts):\n{listed}"
        )


def resolve(document: Any, environ: Mapping[str, str] | None = None) -> Any:
    """The document with every `${NAME}` in its values filled from the environment.

    Raises:
        AlertPoliciesError: a variable the document names is not set (or empty).
    """
    environ = os.environ if environ is None else environ
    missing = sorted(
        {
            name
            for text in _strings(document)
            for name in PLACEHOLDER.findall(text)
            if not environ.get(name, "").strip()
        }
    )
    if missing:
        names = ", ".join(missing)
        raise AlertPoliciesError(
            f"The alert policy file needs {names}: set them in the environment (in GitHub Actions, "
            "as variables of the `production` environment, see docs/operations.md, Alerts)."
        )
    return _substituted(document, environ)


def check_file(path: Path, resolve_to: Path | None = None) -> str:
    """Checks an alert policy file; with `resolve_to`, writes it there with its variables filled.

    What `uv run sqlmesh-dagster alert-policies` runs (the deploy job's sync resolves the file to a
    temporary one, checks it again and syncs that). Returns what was done, in one sentence.

    Raises:
        AlertPoliciesError: the file does not follow the format, or a variable is not set.
        FileNotFoundError: there is no such file.
    """
    document = load_document(path.read_text(encoding="utf-8"))
    check_document(document, str(path))
    count = len(document["alert_policies"])
    if resolve_to is None:
        return f"{path}: {count} alert policies in Dagster+'s format."
    resolved = resolve(document)
    check_document(resolved, f"{path} with its variables filled")
    resolve_to.write_text(yaml.safe_dump(resolved, sort_keys=False), encoding="utf-8")
    return f"{path}: {count} alert policies in Dagster+'s format, written to {resolve_to}."


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def _substituted(value: Any, environ: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda match: environ[match.group(1)].strip(), value)
    if isinstance(value, dict):
        return {key: _substituted(item, environ) for key, item in value.items()}
    if isinstance(value, list):
        return [_substituted(item, environ) for item in value]
    return value


def _policy_problems(policy: dict[str, Any]) -> list[str]:
    found = _mapping_problems(policy, _POLICY, "")
    events = [event for event in policy.get("event_types") or [] if event in _CATEGORY_OF]
    categories = sorted({_CATEGORY_OF[event] for event in events})
    if len(categories) > 1:
        found.append(
            f"event_types mix categories ({', '.join(categories)}): one policy per category"
        )
    category = categories[0] if len(categories) == 1 else None
    listed = policy.get("alert_targets")
    targets: list[Any] = listed if isinstance(listed, list) else []
    kinds = []
    for index, target in enumerate(targets):
        kind, problem = _one_key(target, TARGETS, f"alert_targets[{index}]", "alert target")
        if problem:
            found.append(problem)
            continue
        kinds.append(kind)
        fits, fields = TARGETS[kind]
        found += _mapping_problems(target[kind], fields, f"alert_targets[{index}].{kind}")
        if category and category not in fits and not set(events) <= fits:
            found.append(f"alert_targets[{index}]: `{kind}` does not fit {category} events")
        found += _threshold_problems(target[kind], kind, index)
    if "JOB_LONG_RUNNING" in events and "long_running_job_threshold_target" not in kinds:
        found.append("JOB_LONG_RUNNING needs a `long_running_job_threshold_target`")
    if category == "insights" and len(targets) != 1:
        found.append("insights and metric monitor policies need exactly one alert target")
    given = policy.get("policy_options")
    options: dict[str, Any] = given if isinstance(given, dict) else {}
    if "ASSET_TABLE_SCHEMA_CHANGE" in events and not options.get("table_schema_change_types"):
        found.append("ASSET_TABLE_SCHEMA_CHANGE needs policy_options.table_schema_change_types")
    for option, allowed in _OPTION_EVENTS.items():
        if option in options and not set(events) <= allowed:
            found.append(
                f"policy_options.{option} applies to {', '.join(sorted(allowed))} only: remove it "
                "or split the policy"
            )
    service = policy.get("notification_service")
    if service is not None:
        kind, problem = _one_key(
            service, NOTIFICATION_SERVICES, "notification_service", "notification service"
        )
        if problem:
            found.append(problem)
        else:
            found += _mapping_problems(
                service[kind], NOTIFICATION_SERVICES[kind], f"notification_service.{kind}"
            )
            if kind == "email_owners" and category not in _ASSET_CATEGORIES:
                found.append("notification_service.email_owners is for asset alerts only")
    return found


def _threshold_problems(body: Any, kind: str, index: int) -> list[str]:
    """The metric monitor rule: at least one bound, and the maximum above the minimum."""
    thresholds = body.get("thresholds") if isinstance(body, dict) else None
    if not kind.startswith("metric_monitor_") or not isinstance(thresholds, dict):
        return []
    where = f"alert_targets[{index}].{kind}.thresholds"
    low, high = thresholds.get("min_allowed_value"), thresholds.get("max_allowed_value")
    if low is None and high is None:
        return [f"{where} needs min_allowed_value or max_allowed_value"]
    if isinstance(low, int | float) and isinstance(high, int | float) and high <= low:
        return [f"{where}: max_allowed_value must be above min_allowed_value"]
    return []


def _one_key(value: Any, choices: Mapping[str, Any], where: str, what: str) -> tuple[str, str]:
    """The one key of a single-key mapping among `choices`, or a problem."""
    if isinstance(value, dict) and len(value) == 1:
        (key,) = value
        if key in choices:
            return key, ""
    named = ", ".join(sorted(choices))
    return "", f"{where} must be a mapping with one {what}: one of {named}"


def _mapping_problems(value: Any, fields: Mapping[str, Field], where: str) -> list[str]:
    prefix = f"{where}." if where else ""
    if not isinstance(value, dict):
        return [f"{where or 'the policy'} must be a mapping"]
    found = [
        f"unknown key `{prefix}{key}` (expected one of: {', '.join(fields)})"
        for key in value
        if key not in fields
    ]
    found += [
        f"`{prefix}{key}` is missing"
        for key, field in fields.items()
        if field.required and key not in value
    ]
    for key, field in fields.items():
        if key not in value:
            continue
        item, path = value[key], f"{prefix}{key}"
        if field.check is not None and (problem := field.check(item)):
            found.append(f"`{path}` must be {problem}")
        elif field.fields:
            found += _mapping_problems(item, field.fields, path)
        elif field.each is not None:
            if not isinstance(item, list) or not item:
                found.append(f"`{path}` must be a non-empty list")
            else:
                for index, entry in enumerate(item):
                    found += _mapping_problems(entry, field.each, f"{path}[{index}]")
    return found
