"""Silences by example: matcher operators (anchored as in Alertmanager), bounds, recurring windows across DST in
Europe/Berlin and America/New_York, and which silence wins."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.alerts.silences import (
    Matcher,
    MatchOp,
    Recurrence,
    SilenceCreated,
    active,
    expired,
    in_window,
    is_silenced,
    matches,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)
YEAR_END = datetime(2026, 1, 1, tzinfo=UTC)
LABELS = {"alertname": "Uplink saturated", "site": "berlin-1", "device": "sw-core-01", "severity": "high"}


def silence(*matchers: Matcher, recurrence: Recurrence | None = None, starts_at: datetime = YEAR_START,
            ends_at: datetime = YEAR_END, mode: str = "mute") -> SilenceCreated:
    return SilenceCreated.model_validate({
        "silence_id": uuid.uuid4(), "matchers": matchers or (Matcher(label="site", value="berlin-1"),),
        "starts_at": starts_at, "ends_at": ends_at, "recurrence": recurrence, "mode": mode, "created_by": "ann"})


def daily(zone: str, start: time, end: time) -> Recurrence:
    return Recurrence(every="daily", timezone=zone, start=start, end=end)


def silenced_minutes(recurrence: Recurrence, morning: datetime) -> list[datetime]:
    """Every UTC minute of the 24 hours from noon before `morning` that falls inside the window."""
    begin = (morning - timedelta(days=1)).replace(hour=12).astimezone(UTC)
    minutes = (begin + timedelta(minutes=n) for n in range(24 * 60))
    return [minute for minute in minutes if in_window(recurrence, minute)]


@pytest.mark.parametrize(("op", "value", "expected"), [
    (MatchOp.eq, "berlin-1", True), (MatchOp.eq, "berlin", False),
    (MatchOp.ne, "berlin-1", False), (MatchOp.ne, "paris-1", True),
    (MatchOp.re, "berlin-.*", True), (MatchOp.re, "berlin", False),  # anchored: a prefix is not a match
    (MatchOp.re, "paris-1|berlin-1", True), (MatchOp.re, "erlin-1", False),
    (MatchOp.not_re, "paris-.*", True), (MatchOp.not_re, "berlin-\\d", False),
])
def test_matcher_ops_on_a_present_label(op: MatchOp, value: str, expected: bool) -> None:
    assert matches(Matcher(label="site", op=op, value=value), LABELS) is expected


def test_a_missing_label_is_the_empty_string() -> None:
    assert matches(Matcher(label="rack", op=MatchOp.eq, value=""), LABELS)
    assert matches(Matcher(label="rack", op=MatchOp.ne, value="r1"), LABELS)
    assert matches(Matcher(label="rack", op=MatchOp.re, value=".*"), LABELS)
    assert not matches(Matcher(label="rack", op=MatchOp.re, value=".+"), LABELS)


def test_silences_refuse_bad_regexes_endless_or_backwards_spans_and_silence_everything_matchers() -> None:
    with pytest.raises(ValidationError, match="regular expression"):
        Matcher(label="site", op=MatchOp.re, value="berlin-(")
    with pytest.raises(ValidationError, match="ends_at"):
        silence(ends_at=YEAR_START)
    with pytest.raises(ValidationError):
        SilenceCreated.model_validate({"silence_id": uuid.uuid4(), "matchers": [{"label": "site", "value": "x"}],
                                       "starts_at": YEAR_START, "created_by": "ann"})
    with pytest.raises(ValidationError, match="empty"):
        silence(Matcher(label="site", op=MatchOp.re, value=".*"), Matcher(label="rack", op=MatchOp.ne, value="r1"))


def test_recurrences_refuse_unknown_zones_empty_windows_and_weekly_without_days() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        daily("Europe/Atlantis", time(2), time(4))
    with pytest.raises(ValidationError, match="differ"):
        daily("Europe/Berlin", time(2), time(2))
    with pytest.raises(ValidationError, match="weekdays"):
        Recurrence(every="weekly", timezone="Europe/Berlin", start=time(2), end=time(4))


def test_a_plain_silence_is_active_from_its_start_until_just_before_its_end() -> None:
    one = silence(starts_at=datetime(2025, 5, 1, 8, tzinfo=UTC), ends_at=datetime(2025, 5, 1, 10, tzinfo=UTC))
    assert not active(one, datetime(2025, 5, 1, 7, 59, 59, tzinfo=UTC))
    assert active(one, datetime(2025, 5, 1, 8, tzinfo=UTC))
    assert active(one, datetime(2025, 5, 1, 9, 59, 59, tzinfo=UTC))
    assert not active(one, datetime(2025, 5, 1, 10, tzinfo=UTC))


@pytest.mark.parametrize(("zone", "morning", "window", "hours", "first_local"), [
    ("Europe/Berlin", datetime(2025, 6, 15), (time(2), time(4)), 2, time(2)),
    ("Europe/Berlin", datetime(2025, 3, 30), (time(2), time(4)), 1, time(3)),  # spring forward: 02:00-03:00 missing
    ("Europe/Berlin", datetime(2025, 10, 26), (time(2), time(4)), 3, time(2)),  # autumn: 02:00-03:00 twice
    ("Europe/Berlin", datetime(2025, 3, 30), (time(2), time(2, 30)), 0.5, time(3)),  # inside the gap: moved
    ("Europe/Berlin", datetime(2025, 3, 30), (time(2, 30), time(4)), 1, time(3)),  # starts when the clock jumps
    ("America/New_York", datetime(2025, 6, 15), (time(1), time(3)), 2, time(1)),
    ("America/New_York", datetime(2025, 3, 9), (time(1), time(3)), 1, time(1)),
    ("America/New_York", datetime(2025, 11, 2), (time(1), time(3)), 3, time(1)),
    ("America/New_York", datetime(2025, 11, 2), (time(23), time(1, 30)), 3.5, time(23)),  # past midnight, into fold
    ("Europe/Berlin", datetime(2025, 10, 26), (time(2, 15), time(2, 45)), 1.5, time(2, 15)),  # first to last 02:45
])
def test_a_daily_window_follows_the_wall_clock_across_dst(zone: str, morning: datetime, window: tuple[time, time],
                                                         hours: float, first_local: time) -> None:
    recurrence = daily(zone, *window)
    minutes = silenced_minutes(recurrence, morning.replace(tzinfo=ZoneInfo(zone)))
    assert len(minutes) == hours * 60
    assert minutes[-1] - minutes[0] == timedelta(hours=hours, minutes=-1)  # one stretch, no holes
    assert minutes[0].astimezone(ZoneInfo(zone)).time() == first_local


def test_both_passes_of_the_repeated_autumn_hour_are_inside_the_window() -> None:
    recurrence = daily("Europe/Berlin", time(2), time(4))
    first = datetime(2025, 10, 26, 2, 30, tzinfo=BERLIN, fold=0)
    second = datetime(2025, 10, 26, 2, 30, tzinfo=BERLIN, fold=1)
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)
    assert in_window(recurrence, first.astimezone(UTC)) and in_window(recurrence, second.astimezone(UTC))
    assert not in_window(recurrence, datetime(2025, 10, 26, 4, 0, tzinfo=BERLIN).astimezone(UTC))


def test_a_weekly_window_past_midnight_belongs_to_the_day_it_starts() -> None:
    saturday_nights = Recurrence(every="weekly", timezone="America/New_York", start=time(23), end=time(1, 30),
                                 weekdays=(5,))
    assert in_window(saturday_nights, datetime(2025, 5, 17, 23, 30, tzinfo=NEW_YORK))  # Saturday
    assert in_window(saturday_nights, datetime(2025, 5, 18, 1, 0, tzinfo=NEW_YORK))  # Sunday morning
    assert not in_window(saturday_nights, datetime(2025, 5, 18, 23, 30, tzinfo=NEW_YORK))  # Sunday night
    assert not in_window(saturday_nights, datetime(2025, 5, 17, 1, 0, tzinfo=NEW_YORK))  # Saturday morning


def test_a_recurring_silence_is_also_bounded_by_its_start_and_end() -> None:
    nightly = silence(recurrence=daily("Europe/Berlin", time(2), time(4)),
                      starts_at=datetime(2025, 6, 1, tzinfo=UTC), ends_at=datetime(2025, 6, 3, tzinfo=UTC))
    assert active(nightly, datetime(2025, 6, 2, 2, 30, tzinfo=BERLIN))
    assert not active(nightly, datetime(2025, 6, 2, 5, 0, tzinfo=BERLIN))
    assert not active(nightly, datetime(2025, 6, 3, 2, 30, tzinfo=BERLIN))


def test_is_silenced_prefers_skip_evaluation_then_the_latest_end() -> None:
    now = datetime(2025, 6, 1, 12, tzinfo=UTC)
    mute_long = silence(ends_at=datetime(2025, 7, 1, tzinfo=UTC))
    mute_short = silence(ends_at=datetime(2025, 6, 2, tzinfo=UTC))
    skip = silence(Matcher(label="device", op=MatchOp.re, value="sw-.*"), mode="skip_evaluation",
                   ends_at=datetime(2025, 6, 2, tzinfo=UTC))
    other_site = silence(Matcher(label="site", value="paris-1"), mode="skip_evaluation")
    assert is_silenced(LABELS, [mute_short, mute_long], now) is mute_long
    assert is_silenced(LABELS, [mute_long, skip, other_site], now) is skip
    assert is_silenced(LABELS, [other_site], now) is None
    assert is_silenced(LABELS, [mute_long], datetime(2025, 7, 1, tzinfo=UTC)) is None


def test_expired_names_the_silences_whose_end_has_passed() -> None:
    ended, running = silence(ends_at=datetime(2025, 6, 1, tzinfo=UTC)), silence()
    found = expired([ended, running], datetime(2025, 6, 1, tzinfo=UTC))
    assert [(e.silence_id, e.at) for e in found] == [(ended.silence_id, ended.ends_at)]


ZONES = st.sampled_from(["Europe/Berlin", "America/New_York", "UTC", "Australia/Lord_Howe", "Asia/Kolkata"])
INSTANTS = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC))
TIMES = st.times().map(lambda t: t.replace(microsecond=0))


@settings(max_examples=300, deadline=None)
@given(zone=ZONES, start=TIMES, end=TIMES, now=INSTANTS)
def test_an_instant_whose_wall_clock_is_inside_the_window_is_silenced(zone: str, start: time, end: time,
                                                                      now: datetime) -> None:
    if start == end:
        return
    wall = now.astimezone(ZoneInfo(zone)).time().replace(fold=0)
    inside = start <= wall < end if start < end else (wall >= start or wall < end)
    if inside:
        assert in_window(daily(zone, start, end), now)


@settings(max_examples=200, deadline=None)
@given(zone=ZONES, start=TIMES, end=TIMES, now=INSTANTS, days=st.sets(st.integers(0, 6), min_size=1))
def test_a_weekly_window_is_a_part_of_the_daily_one(zone: str, start: time, end: time, now: datetime,
                                                    days: set[int]) -> None:
    if start == end:
        return
    weekly = Recurrence(every="weekly", timezone=zone, start=start, end=end, weekdays=tuple(sorted(days)))
    if in_window(weekly, now):
        assert in_window(daily(zone, start, end), now)


def test_regex_matchers_run_in_linear_time_with_re2_semantics() -> None:
    """Python's backtracking `re` took 2.6 s for `(a+)+b` against 26 characters and never finished on a 500-character
    label value, hanging the processors and the notifier (and again after every restart: the silence is in the log).
    RE2, as Alertmanager uses, answers at once; what RE2 cannot express (look-arounds, back-references) is refused."""
    import time as clock

    evil = Matcher(label="host", op=MatchOp.re, value="(a+)+b")
    started = clock.perf_counter()
    assert not matches(evil, {"host": "a" * 500})
    assert not matches(Matcher(label="host", op=MatchOp.re, value="(x+x+)+y"), {"host": "x" * 500})
    assert matches(Matcher(label="host", op=MatchOp.not_re, value="(a|aa)+c"), {"host": "a" * 500})
    assert clock.perf_counter() - started < 0.5
    assert matches(Matcher(label="host", op=MatchOp.re, value="sw-[0-9]+"), {"host": "sw-12"})
    assert not matches(Matcher(label="host", op=MatchOp.re, value="sw-[0-9]+"), {"host": "xsw-12"})  # anchored
    for beyond_re2 in (r"(?=a)a", r"(a)\1", r"(?<!x)y"):
        with pytest.raises(ValidationError, match="RE2"):
            Matcher(label="host", op=MatchOp.re, value=beyond_re2)
