"""Dagster freshness policies from SQLMesh crons: late data shows in the UI.

A SQLMesh model's cron says when its latest interval becomes due: a daily model's yesterday is due
at midnight. The model is late when, a grace period after that moment, it has not materialized
since. In Dagster's terms that is a cron freshness policy whose deadline is the model's cron
shifted by the grace period, with the grace period as the window before the deadline in which a
materialization counts:

    @daily, grace 1 hour  ->  FreshnessPolicy.cron(deadline_cron="0 1 * * *",
                                                    lower_bound_delta=timedelta(hours=1))

The grace period is capped at the model's interval (an hourly model cannot be an hour and a half
late for one hour). A cron whose shifted form cannot be written as a cron (a shift that crosses
midnight on a cron limited to some days) gets a time window policy instead: materialized within
one interval plus the grace period.
"""

from __future__ import annotations

import functools
from datetime import timedelta

import dagster as dg

from ..errors import InvalidInputError

# The longest an interval of each SQLMesh interval unit lasts.
INTERVAL_LENGTHS = {
    "five_minute": timedelta(minutes=5),
    "quarter_hour": timedelta(minutes=15),
    "half_hour": timedelta(minutes=30),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "month": timedelta(days=31),
    "year": timedelta(days=366),
}
# The shortest, to cap the grace period: Dagster refuses one longer than the cron's shortest gap.
_SHORTEST_INTERVALS = {**INTERVAL_LENGTHS, "month": timedelta(days=28), "year": timedelta(days=365)}
MINIMUM_GRACE_PERIOD = timedelta(minutes=1)  # Dagster's smallest window
_MINUTES_PER_DAY = 24 * 60


@functools.cache  # one policy per distinct cron: building one samples the cron's ticks
def cron_freshness_policy(
    cron: str, interval_unit: str | None, grace_period: timedelta, timezone: str | None = None
) -> dg.FreshnessPolicy | None:
    """The freshness policy of a model with this five-field cron and interval unit.

    Args:
        cron: The model's cron as five fields (aliases such as `@daily` already expanded).
        interval_unit: SQLMesh's interval unit (`day`, `hour`, ...); None gives no policy.
        grace_period: How long after the cron the latest interval may still be missing.
        timezone: The model's `cron_tz`; UTC when None.

    Raises:
        ValueError: the grace period is shorter than a minute.

    Example:
        >>> policy = cron_freshness_policy("0 0 * * *", "day", timedelta(hours=2))
        >>> policy.deadline_cron, policy.lower_bound_delta
        ('0 2 * * *', datetime.timedelta(seconds=7200))
    """
    if grace_period < MINIMUM_GRACE_PERIOD:
        raise InvalidInputError(
            f"The freshness grace period is {grace_period}: set `freshness_grace_period` to at "
            "least one minute, or to None for no freshness policies."
        )
    interval = INTERVAL_LENGTHS.get(interval_unit or "")
    if interval is None:
        return None
    grace = min(grace_period, _SHORTEST_INTERVALS[interval_unit or ""])
    deadline = shifted_cron(cron, int(grace.total_seconds() // 60))
    if deadline is None:
        return dg.FreshnessPolicy.time_window(fail_window=interval + grace)
    return dg.FreshnessPolicy.cron(
        deadline_cron=deadline, lower_bound_delta=grace, timezone=timezone or "UTC"
    )


def shifted_cron(cron: str, minutes: int) -> str | None:
    """The cron whose ticks are this cron's ticks plus `minutes`, or None if none is simple.

    Handles numeric minute and hour fields (`*`, lists, ranges, steps); the day, month and weekday
    fields are kept, so a shift that moves a tick past midnight is only possible when they are `*`.

    Example:
        >>> shifted_cron("0 0 1 * *", 90)
        '30 1 1 * *'
        >>> shifted_cron("*/15 * * * *", 5)
        '5,20,35,50 * * * *'
        >>> shifted_cron("0 23 * * 1-5", 120) is None
        True
    """
    fields = cron.split()
    if len(fields) != 5:
        return None
    minute_field, hour_field, *day_fields = fields
    minute_values = _expand(minute_field, 59)
    hour_values = _expand(hour_field, 23)
    if minute_values is None or hour_values is None:
        return None
    every_day = all(field == "*" for field in day_fields)
    ticks = set()
    for hour in hour_values:
        for minute in minute_values:
            tick = hour * 60 + minute + minutes
            if tick >= _MINUTES_PER_DAY and not every_day:
                return None
            ticks.add(tick % _MINUTES_PER_DAY)
    new_minutes = sorted({tick % 60 for tick in ticks})
    new_hours = sorted({tick // 60 for tick in ticks})
    if len(new_minutes) * len(new_hours) != len(ticks):
        return None  # the shifted ticks are not one minute list crossed with one hour list
    return " ".join((_field(new_minutes, 59), _field(new_hours, 23), *day_fields))


def _expand(field: str, highest: int) -> list[int] | None:
    """The values of a numeric cron field (`*`, `5`, `1,2`, `1-5`, `*/15`, `0-30/10`)."""
    values: set[int] = set()
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        if not (step_text.isdigit() or not step_text) or (step_text and int(step_text) == 0):
            return None
        step = int(step_text) if step_text else 1
        if span == "*":
            low, high = 0, highest
        elif span.isdigit():
            low = int(span)
            high = highest if step_text else low
        elif "-" in span and all(bound.isdigit() for bound in span.split("-", 1)):
            low, high = (int(bound) for bound in span.split("-", 1))
        else:
            return None  # names (MON), L, W, ? and the like: not shifted
        if not 0 <= low <= high <= highest:
            return None
        values.update(range(low, high + 1, step))
    return sorted(values)


def _field(values: list[int], highest: int) -> str:
    if values == list(range(highest + 1)):
        return "*"
    return ",".join(str(value) for value in values)
