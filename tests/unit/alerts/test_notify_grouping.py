"""Notification grouping (Alertmanager's group_wait / group_interval / repeat_interval) by example and by property:
group keys, flush times, what a flush says, delivery ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.alerts.notify.grouping import (
    AlertView,
    GroupClock,
    Timers,
    compose,
    delivery_id,
    group_of,
    next_flush,
    next_tick,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)
TIMERS = Timers(group_wait=30 * S, group_interval=300 * S, repeat_interval=4 * 3600 * S)


def alert(fp: str, *, firing: bool = True, since: datetime = T0, **flags: bool) -> AlertView:
    return AlertView(fingerprint=fp, alert_id=f"id-{fp}", subject=f"device:{fp}", rule_id="uplink", severity="high",
                     summary=f"{fp} is down", labels={"site": "berlin"}, firing=firing, since=since, **flags)


def test_group_key_uses_the_configured_labels_in_a_stable_order() -> None:
    key, labels = group_of({"site": "berlin", "device": "sw1", "port": "7"}, ["site", "device"])
    assert key == '{device="sw1",site="berlin"}'
    assert labels == {"device": "sw1", "site": "berlin"}
    assert group_of({"device": "sw1", "site": "berlin"}, ["device", "site"])[0] == key


def test_missing_labels_group_as_empty_and_no_group_by_is_one_group() -> None:
    assert group_of({"site": "x"}, ["site", "device"])[0] == '{device="",site="x"}'
    assert group_of({"site": "x"}, [])[0] == group_of({"site": "y"}, [])[0] == "{}"


def test_group_key_quotes_values() -> None:
    assert group_of({"site": 'a",b="c'}, ["site"])[0] == '{site="a\\",b=\\"c"}'


def test_new_group_waits_group_wait() -> None:
    clock = GroupClock(created_at=T0)
    assert next_flush(clock, TIMERS, pending_since=T0 + 5 * S, firing=True) == T0 + 30 * S
    assert next_flush(clock, TIMERS, pending_since=None, firing=True) is None


def test_changes_after_the_first_flush_wait_for_the_next_group_interval_tick() -> None:
    first = T0 + 30 * S
    clock = GroupClock(created_at=T0, first_flush_at=first, last_flush_at=first, last_sent_at=first)
    assert next_flush(clock, TIMERS, pending_since=first + 10 * S, firing=True) == first + 300 * S
    # a change long after: the first tick at or after it, still on the group's grid
    assert next_flush(clock, TIMERS, pending_since=first + 1000 * S, firing=True) == first + 1200 * S


def test_a_late_flush_moves_to_the_following_tick() -> None:
    first = T0 + 30 * S
    late = first + 302 * S  # the sender ran 2 s after the tick
    clock = GroupClock(created_at=T0, first_flush_at=first, last_flush_at=late, last_sent_at=late)
    assert next_flush(clock, TIMERS, pending_since=late, firing=True) == first + 600 * S


def test_unchanged_firing_group_repeats_after_repeat_interval() -> None:
    first = T0 + 30 * S
    clock = GroupClock(created_at=T0, first_flush_at=first, last_flush_at=first, last_sent_at=first)
    assert next_flush(clock, TIMERS, pending_since=None, firing=True) == first + 4 * 3600 * S
    assert next_flush(clock, TIMERS, pending_since=None, firing=False) is None


def test_firing_group_never_sent_is_looked_at_again_after_repeat_interval() -> None:
    first = T0 + 30 * S
    clock = GroupClock(created_at=T0, first_flush_at=first, last_flush_at=first, last_sent_at=None)
    assert next_flush(clock, TIMERS, pending_since=None, firing=True) == first + 4 * 3600 * S


def test_flush_lists_firing_and_newly_resolved_alerts() -> None:
    message = compose([alert("b", since=T0 + S), alert("a"), alert("c", firing=False, notified_firing=True)])
    assert message is not None
    assert [a.fingerprint for a in message.firing] == ["a", "b"]
    assert [a.fingerprint for a in message.resolved] == ["c"]


def test_resolved_before_ever_notified_is_not_news() -> None:
    assert compose([alert("a", firing=False)]) is None


def test_acknowledged_flapping_and_silenced_alerts_are_held() -> None:
    held = [alert("a", acknowledged=True), alert("b", flapping=True), alert("c", silenced=True),
            alert("d", firing=False, notified_firing=True, flapping=True)]
    assert compose(held) is None
    message = compose([*held, alert("e")])
    assert message is not None and [a.fingerprint for a in message.firing] == ["e"] and not message.resolved


def test_delivery_id_depends_on_the_rows_not_their_order() -> None:
    one = delivery_id("email", "{}", "changes", ["e1", "e2"])
    assert one == delivery_id("email", "{}", "changes", ["e2", "e1"])
    assert one != delivery_id("webhook", "{}", "changes", ["e1", "e2"])
    assert one != delivery_id("email", "{}", "changes", ["e1", "e2", "e3"])
    assert one != delivery_id("email", "{}", "repeat", ["e1", "e2"])
    assert len(one) == 32


def test_timers_refuse_nonsense() -> None:
    with pytest.raises(ValueError):
        Timers(group_wait=S, group_interval=timedelta(0), repeat_interval=S)
    with pytest.raises(ValueError):
        Timers(group_wait=S, group_interval=10 * S, repeat_interval=5 * S)


seconds = st.integers(min_value=0, max_value=10 * 24 * 3600)
timers = st.builds(lambda w, i, r: Timers(w * S, i * S, (i + r) * S),
                   st.integers(0, 600), st.integers(1, 3600), st.integers(0, 24 * 3600))


@given(timers, seconds, seconds, seconds)
def test_changes_flush_on_the_grid_after_the_last_flush_and_not_before_the_change(
        t: Timers, first_after: int, last_after: int, change_after: int) -> None:
    first = T0 + first_after * S
    last = first + last_after * S
    clock = GroupClock(created_at=T0, first_flush_at=first, last_flush_at=last, last_sent_at=last)
    change = T0 + change_after * S
    due = next_flush(clock, t, pending_since=change, firing=True)
    assert due is not None
    assert due > last and due >= change
    assert (due - first) % t.group_interval == timedelta(0)
    earlier = due - t.group_interval  # the tick before did not qualify
    assert earlier <= last or earlier < change or earlier <= first


@given(timers, seconds, seconds)
def test_repeats_wait_at_least_repeat_interval_and_stay_on_the_grid(t: Timers, first_after: int, sent_after: int
                                                                     ) -> None:
    first = T0 + first_after * S
    sent = first + sent_after * S
    clock = GroupClock(created_at=T0, first_flush_at=first, last_flush_at=sent, last_sent_at=sent)
    due = next_flush(clock, t, pending_since=None, firing=True)
    assert due is not None
    assert due >= sent + t.repeat_interval
    assert due - t.group_interval < sent + t.repeat_interval  # the first such tick, not a later one
    assert (due - first) % t.group_interval == timedelta(0)


@given(st.integers(0, 10_000), st.integers(1, 500), st.integers(-1000, 10_000), st.integers(-1000, 10_000))
def test_next_tick_is_the_first_qualifying_tick(anchor_s: int, step_s: int, after_s: int, not_before_s: int) -> None:
    anchor, step = T0 + anchor_s * S, step_s * S
    after, not_before = anchor + after_s * S, anchor + not_before_s * S
    tick = next_tick(anchor, step, after=after, not_before=not_before)
    assert tick > after and tick >= not_before and tick > anchor
    assert (tick - anchor) % step == timedelta(0)
    earlier = tick - step
    assert earlier <= anchor or earlier <= after or earlier < not_before
