"""Pure grouping, Alertmanager's semantics: which group an alert belongs to, when a group is flushed, what a flush
says, and the id of what it sends.

- A new group waits `group_wait` before its first notification (alerts that fire together arrive together).
- After that the group ticks every `group_interval` from its first flush; changes (new, resolved, re-shown alerts)
  wait for the next tick.
- A group with nothing new but alerts still firing is sent again on the first tick `repeat_interval` after the last
  send.
- A flush lists every alert of the group still firing (not acknowledged, flapping or silenced) and the resolved ones
  that had been notified firing, once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal


@dataclass(frozen=True)
class Timers:
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta

    def __post_init__(self) -> None:
        if self.group_wait < timedelta(0) or self.group_interval <= timedelta(0):
            raise ValueError("group_wait must be >= 0 and group_interval > 0")
        if self.repeat_interval < self.group_interval:
            raise ValueError("repeat_interval must be at least group_interval")


@dataclass(frozen=True)
class GroupClock:
    """When a group came to be and what it has done. `first_flush_at` anchors the group_interval ticks."""

    created_at: datetime
    first_flush_at: datetime | None = None
    last_flush_at: datetime | None = None
    last_sent_at: datetime | None = None


@dataclass(frozen=True)
class AlertView:
    """One alert of a group as a flush sees it."""

    fingerprint: str
    alert_id: str
    subject: str
    rule_id: str | None
    severity: str
    summary: str
    labels: Mapping[str, str]
    firing: bool
    since: datetime
    acknowledged: bool = False
    flapping: bool = False
    silenced: bool = False
    notified_firing: bool = False  # a message already listed it firing


@dataclass(frozen=True)
class Message:
    firing: tuple[AlertView, ...]
    resolved: tuple[AlertView, ...]


def group_of(labels: Mapping[str, str], group_by: Sequence[str]) -> tuple[str, dict[str, str]]:
    """The group key (Alertmanager's `{device="sw1",site="berlin"}` form) and the grouping labels; a label the alert
    lacks groups as empty, and no `group_by` at all puts every alert in one group."""
    chosen = {name: labels.get(name, "") for name in sorted(set(group_by))}
    key = "{" + ",".join(f'{name}="{_quote(value)}"' for name, value in chosen.items()) + "}"
    return key, chosen


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _ticks_until(anchor: datetime, interval: timedelta, moment: datetime) -> int:
    """How many whole intervals from `anchor` it takes to reach `moment` (rounded up, at least 0)."""
    span = (moment - anchor) // timedelta(microseconds=1)
    step = interval // timedelta(microseconds=1)
    return max(0, -(-span // step))


def next_tick(anchor: datetime, interval: timedelta, *, after: datetime, not_before: datetime) -> datetime:
    """The first tick `anchor + k * interval` (k >= 1) strictly after `after` and not before `not_before`."""
    k = max(1, _ticks_until(anchor, interval, after + timedelta(microseconds=1)),
            _ticks_until(anchor, interval, not_before))
    return anchor + k * interval


def next_flush(clock: GroupClock, timers: Timers, *, pending_since: datetime | None, firing: bool
               ) -> datetime | None:
    """When the group is flushed next: None when there is nothing to say now or later (until a new change)."""
    if clock.first_flush_at is None:
        return clock.created_at + timers.group_wait if pending_since is not None else None
    after = clock.last_flush_at or clock.first_flush_at
    if pending_since is not None:
        return next_tick(clock.first_flush_at, timers.group_interval, after=after, not_before=pending_since)
    if firing:  # never sent (all held at the time): look again a repeat interval after the last flush
        since = clock.last_sent_at or after
        return next_tick(clock.first_flush_at, timers.group_interval, after=after,
                         not_before=since + timers.repeat_interval)
    return None


def compose(alerts: Iterable[AlertView]) -> Message | None:
    """What a flush sends, or None when there is nothing to say. Flapping and silenced alerts are held; an alert that
    resolved before it was ever notified firing is not news."""
    shown = [a for a in alerts if not a.flapping and not a.silenced]
    firing = tuple(sorted((a for a in shown if a.firing and not a.acknowledged), key=_order))
    resolved = tuple(sorted((a for a in shown if not a.firing and a.notified_firing), key=_order))
    if not firing and not resolved:
        return None
    return Message(firing, resolved)


def _order(alert: AlertView) -> tuple[str, str]:
    return alert.since.isoformat(), alert.fingerprint


def delivery_id(channel: str, group_key: str, kind: Literal["changes", "repeat"], basis: Iterable[str]) -> str:
    """A deterministic id for one message: from the notification rows it answers (changes) or from the group and the
    repeat's scheduled time (repeat). The same claim after a crash makes the same id, so a receiver can dedupe."""
    digest = hashlib.sha256("\x1f".join([channel, group_key, kind, *sorted(basis)]).encode())
    return digest.hexdigest()[:32]
