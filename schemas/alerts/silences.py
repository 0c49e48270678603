"""Silences and maintenance windows as events (on alerts.rules), and the pure checks: label matchers (anchored
regular expressions with RE2 semantics, as in Alertmanager), whether a silence is in force at an instant (recurring
windows read off the wall clock of the silence's IANA zone), and which silence, if any, covers an alert's labels.


A recurring window on a chosen day runs from the first moment the local clock reads `start` until the last moment it
reads `end`, so across DST "02:00-04:00 local" lasts one real hour on the spring-forward night (02:00 to 03:00 does
not exist) and three on the autumn night (02:00 to 03:00 happens twice, both times inside). A window that ends
inside the spring gap keeps its length (read with the offset before the change, Python's fold=0): 02:00-02:30 runs
03:00-03:30 that night instead of vanishing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import re2
from pydantic import Field, JsonValue, field_validator, model_validator

from schemas.alerts.rules import LABEL_NAME, NAME
from schemas.envelope import Payload


class MatchOp(StrEnum):
    eq = "="
    ne = "!="
    re = "=~"
    not_re = "!~"


class Matcher(Payload):
    label: Annotated[str, Field(pattern=LABEL_NAME)]
    op: MatchOp = MatchOp.eq
    value: str = Field(max_length=500)

    @model_validator(mode="after")
    def _regex_compiles(self) -> Matcher:
        if self.op in (MatchOp.re, MatchOp.not_re):
            try:
                pattern(self.value)
            except re2.error as e:
                raise ValueError(f"not a valid RE2 regular expression (Alertmanager's syntax): {e}") from e
        return self


@lru_cache(maxsize=4096)
def pattern(text: str) -> Any:
    """A matcher's regular expression, compiled by RE2 (as Alertmanager, in Go, does): matching takes time linear in
    the label value, whatever the pattern, so no silence can hang the processors or the notifier. Patterns are few
    and matched per event: compiled once."""
    options = re2.Options()
    options.log_errors = False  # a refused pattern is answered as a validation error, not logged by the C++ side
    options.max_mem = 1 << 20
    return re2.compile(text, options)

ZONES: list[JsonValue] = [*sorted(available_timezones())]  # the names this server's zone database knows


class Recurrence(Payload):
    """A wall-clock window in `timezone`, every day or on `weekdays` (0 Monday .. 6 Sunday); `end` <= `start`
    means the window runs past midnight. Its weekday is the one it starts on."""

    every: Literal["daily", "weekly"]
    timezone: str = Field(min_length=1, max_length=64, json_schema_extra={"enum": ZONES})
    start: time
    end: time
    weekdays: tuple[Annotated[int, Field(ge=0, le=6)], ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown IANA time zone {name!r}") from e
        return name

    @model_validator(mode="after")
    def _sane(self) -> Recurrence:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("start and end are wall-clock times in `timezone`, without an offset")
        if self.every == "weekly" and not self.weekdays:
            raise ValueError("a weekly recurrence needs weekdays")
        return self


class SilenceCreated(Payload):
    """Alerts whose labels match every matcher are silenced between starts_at and ends_at (within the recurring
    window, if any). mute: evaluated and shown, not notified; skip_evaluation: not evaluated at all."""

    silence_id: uuid.UUID
    matchers: tuple[Matcher, ...] = Field(min_length=1, max_length=20)
    starts_at: datetime
    ends_at: datetime
    recurrence: Recurrence | None = None
    mode: Literal["mute", "skip_evaluation"] = "mute"
    created_by: NAME
    comment: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _bounded(self) -> SilenceCreated:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at need a UTC offset")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if all(_matches_empty(m) for m in self.matchers):
            raise ValueError("at least one matcher must not match an empty label (it would silence everything)")
        return self


def _matches_empty(matcher: Matcher) -> bool:
    if matcher.op is MatchOp.eq:
        return matcher.value == ""
    if matcher.op is MatchOp.ne:
        return matcher.value != ""
    found = pattern(matcher.value).fullmatch("") is not None
    return found if matcher.op is MatchOp.re else not found


class SilenceExpired(Payload):
    """The silence reached its end."""

    silence_id: uuid.UUID
    at: datetime


class SilenceDeleted(Payload):
    """The silence was withdrawn before its end."""

    silence_id: uuid.UUID
    by: NAME
    at: datetime


def matches(matcher: Matcher, labels: Mapping[str, str]) -> bool:
    """A missing label is the empty string (Alertmanager's rule); regular expressions must match the whole value."""
    value = labels.get(matcher.label, "")
    match matcher.op:
        case MatchOp.eq:
            return value == matcher.value
        case MatchOp.ne:
            return value != matcher.value
        case MatchOp.re:
            return pattern(matcher.value).fullmatch(value) is not None
        case MatchOp.not_re:
            return pattern(matcher.value).fullmatch(value) is None
    raise AssertionError(matcher.op)


def matches_all(silence: SilenceCreated, labels: Mapping[str, str]) -> bool:
    return all(matches(matcher, labels) for matcher in silence.matchers)


def active(silence: SilenceCreated, now: datetime) -> bool:
    """In force at `now` (an aware datetime): within [starts_at, ends_at) and, if it recurs, inside a window."""
    if not silence.starts_at <= now < silence.ends_at:
        return False
    return silence.recurrence is None or in_window(silence.recurrence, now)


def in_window(recurrence: Recurrence, now: datetime) -> bool:
    zone = ZoneInfo(recurrence.timezone)
    local = now.astimezone(zone)
    wall = local.replace(tzinfo=None)
    for day in (local.date(), local.date() - timedelta(days=1)):  # a window past midnight began yesterday
        if recurrence.every == "weekly" and day.weekday() not in recurrence.weekdays:
            continue
        end_day = day if recurrence.start < recurrence.end else day + timedelta(days=1)
        starts, ends = datetime.combine(day, recurrence.start), datetime.combine(end_day, recurrence.end)
        if starts <= wall < ends:
            return True
        if _first(starts, zone) <= now < _last(ends, zone):
            return True
    return False


def _first(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant the clock reads `wall`, the first of two in the autumn fold; in the spring gap the old offset's."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _last(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant the clock reads `wall`, the second of two in the autumn fold; in the spring gap the old offset's
    (fold=0 is the later reading there)."""
    return max(wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))


def is_silenced(labels: Mapping[str, str], silences: Iterable[SilenceCreated], now: datetime) -> SilenceCreated | None:
    """The silence covering `labels` at `now`, or None. Of several, a skip_evaluation one first (it is the stronger),
    then the one that ends last."""
    covering = [s for s in silences if active(s, now) and matches_all(s, labels)]
    if not covering:
        return None
    return max(covering, key=lambda s: (s.mode == "skip_evaluation", s.ends_at))


def expired(silences: Iterable[SilenceCreated], now: datetime) -> list[SilenceExpired]:
    """A SilenceExpired for each silence whose end has passed (the caller forgets them once sent)."""
    return [SilenceExpired(silence_id=s.silence_id, at=s.ends_at) for s in silences if s.ends_at <= now]
