"""Dagster+ alert policies as code: `alert_policies.yaml`, checked before it is synced.

The deploy workflow syncs the file with the pinned Dagster+ CLI (`dagster-cloud deployment
alert-policies sync`), which sends it to Dagster+ without looking at it, and a sync replaces every
code-backed policy. So the file is checked here first, in the project's tests and again in the
sync job, against the document format Dagster+ documents ("Alert policies YAML reference", kept
as data in `alert_policy_format.py`): the top-level `alert_policies` list; each policy's keys;
the event types and the categories they fall into; which alert targets fit which events, with
their fields; the notification services; the policy options; and the reference's validation rules
(one category per policy, the long-running and schema-change requirements, one target for
insights and metric monitors, the metric monitor thresholds, the options that only some events
take, `email_owners` for asset alerts only).

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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import AlertPoliciesError
from .alert_policy_format import (
    ASSET_CATEGORIES,
    CATEGORY_OF,
    NOTIFICATION_SERVICES,
    OPTION_EVENTS,
    PLACEHOLDER,
    POLICY,
    TARGETS,
    Field,
)


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
    found = _mapping_problems(policy, POLICY, "")
    events = [event for event in policy.get("event_types") or [] if event in CATEGORY_OF]
    categories = sorted({CATEGORY_OF[event] for event in events})
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
    for option, allowed in OPTION_EVENTS.items():
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
            if kind == "email_owners" and category not in ASSET_CATEGORIES:
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
