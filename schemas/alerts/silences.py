"""Pure silence checks: label matchers (anchored regular expressions, as in Alertmanager), whether a silence is in
force at an instant (recurring windows read off the wall clock of the silence's IANA zone), and which silence, if
any, covers an alert's labels.

A recurring window on a chosen day runs from the first moment the local clock reads `start` until the last moment it
reads `end`, so across DST "02:00-04:00 local" lasts one real hour on the spring-forward night (02:00 to 03:00 does
not exist) and three on the autumn night (02:00 to 03:00 happens twice, both times inside). A window that ends
inside the spring gap keeps its length (read with the offset before the change, Python's fold=0): 02:00-02:30 runs
03:00-03:30 that night instead of vanishing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from schemas.alerts.events import Matcher, MatchOp, Recurrence, SilenceCreated, SilenceExpired


def matches(matcher: Matcher, labels: Mapping[str, str]) -> bool:
    """A missing label is the empty string (Alertmanager's rule); regular expressions must match the whole value."""
    value = labels.get(matcher.label, "")
    match matcher.op:
        case MatchOp.eq:
            return value == matcher.value
        case MatchOp.ne:
            return value != matcher.value
        case MatchOp.re:
            return re.fullmatch(matcher.value, value) is not None
        case MatchOp.not_re:
            return re.fullmatch(matcher.value, value) is None
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
