"""Pure alert state machine for one fingerprint (rule + subject): evaluate(rule, state, observation, now) and
tick(rule, state, now) -> (state, lifecycle events).

inactive -> pending (the problem must hold for `for_s`) -> firing -> (cleared for `keep_firing_for_s`) -> inactive.
Flapping, acknowledgement and silences sit on top: flapping holds notifications (events carry flapping=True), an
ack expires, silences are checked by the caller (processors.silences). No I/O and no clock: `now` is the
observation's own time (its envelope's occurred_at), so a redelivery decides exactly what the first delivery did.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from processors.alerts.rules import (
    AnomalyObserved,
    MetricSample,
    Observation,
    Signal,
    alert_labels,
    classify,
    summary,
    timing,
)
from schemas.alerts.identity import alert_id, fingerprint
from schemas.alerts.lifecycle import (
    AlertAcknowledged,
    AlertEvent,
    AlertFlapping,
    AlertRaised,
    AlertResolved,
    AlertSilenced,
    AlertStable,
    AlertUnacknowledged,
    AlertUnsilenced,
)
from schemas.alerts.rules import AlertRule, FlapPolicy, ResolveReason, Severity

SEEN_KEPT = 64  # a redelivery comes within one uncommitted batch; older repeats are also older than last_at
Step = tuple["AlertState", list[AlertEvent]]


class Phase(StrEnum):
    inactive = "inactive"
    pending = "pending"
    firing = "firing"


class Ack(BaseModel):
    model_config = ConfigDict(frozen=True)

    by: str
    note: str
    until: datetime


class AlertState(BaseModel):
    """What the processor remembers of one fingerprint (a Faust table value keyed by fingerprint)."""

    model_config = ConfigDict(frozen=True)

    fingerprint: str
    rule_id: str | None
    subject: str
    phase: Phase = Phase.inactive
    pending_since: datetime | None = None
    clear_since: datetime | None = None  # firing, condition gone, keep_firing_for running
    last_problem_at: datetime | None = None  # event kinds auto-resolve this long after the last matching event
    raises: int = 0  # how many alerts this fingerprint has raised: the n-th has alert_id(fingerprint, n)
    alert_id: uuid.UUID | None = None  # the firing alert
    ack: Ack | None = None
    flapping: bool = False
    changes: tuple[datetime, ...] = ()  # recent raise/resolve times (flap window)
    value: float | None = None  # last metric value
    observed_labels: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)  # the firing alert's labels (what silences match)
    silenced_by: uuid.UUID | None = None  # the mute silence covering the firing alert
    last_at: datetime | None = None  # time of the newest observation applied; older ones are out of order
    seen: tuple[str, ...] = ()  # recent observation ids


def initial_state(rule_id: str | None, subject: str, labels: Mapping[str, str] | None = None) -> AlertState:
    """A fingerprint's first state; a manual alert's `labels` are part of its identity (schemas.alerts.identity)."""
    return AlertState(fingerprint=fingerprint(rule_id, subject, labels), rule_id=rule_id, subject=subject)


def evaluate(rule: AlertRule, state: AlertState, observation: Observation, now: datetime) -> Step:
    """Apply one observation taken at `now`, then the timers due at `now`. An observation the rule does not look
    at, one already seen, or one older than the newest applied leaves the state as it is and yields []."""
    if state.rule_id != rule.rule_id or state.subject != observation.subject:
        raise ValueError(f"observation of {observation.subject!r} for rule {rule.rule_id!r} given state of "
                         f"{state.subject!r} for rule {state.rule_id!r}")
    signal = classify(rule.params, observation)
    if signal is None or observation.observation_id in state.seen or (state.last_at is not None
                                                                        and now < state.last_at):
        return state, []
    changes: dict[str, Any] = {"seen": (*state.seen, observation.observation_id)[-SEEN_KEPT:], "last_at": now,
                               "observed_labels": dict(observation.labels)}
    if isinstance(observation, MetricSample | AnomalyObserved):
        changes["value"] = observation.value
    state, events = _apply(rule, state.model_copy(update=changes), signal, now)
    state, due = tick(rule, state, now)
    return state, events + due


def _apply(rule: AlertRule, state: AlertState, signal: Signal, now: datetime) -> Step:
    if signal is Signal.problem:
        if state.phase is Phase.inactive:
            if timing(rule.params).for_s == 0:
                return _raise(rule, state, now)
            return state.model_copy(update={"phase": Phase.pending, "pending_since": now}), []
        if state.phase is Phase.firing:
            return state.model_copy(update={"clear_since": None, "last_problem_at": now}), []
    elif signal is Signal.ok:
        if state.phase is Phase.pending:
            return state.model_copy(update={"phase": Phase.inactive, "pending_since": None}), []
        if state.phase is Phase.firing:
            if timing(rule.params).keep_firing_for_s == 0:
                return _resolve(rule, state, now, "cleared")
            return state.model_copy(update={"clear_since": state.clear_since or now}), []
    return state, []


def tick(rule: AlertRule | None, state: AlertState, now: datetime) -> Step:
    """The timers due at `now`: a pending problem held for `for_s` fires, a cleared one resolves after
    `keep_firing_for_s`, an event-kind alert auto-resolves, an expired ack while firing is undone (AlertUnacknowledged),
    a flapping fingerprint quiet for the stable window is stable again. `rule` is None for a manual alert."""
    times = timing(rule.params if rule is not None else None)
    events: list[AlertEvent] = []
    if rule is not None and state.phase is Phase.pending and state.pending_since is not None \
            and now - state.pending_since >= timedelta(seconds=times.for_s):
        state, events = _raise(rule, state, now)
    if state.phase is Phase.firing and state.clear_since is not None \
            and now - state.clear_since >= timedelta(seconds=times.keep_firing_for_s):
        state, events = _chain(events, _resolve(rule, state, now, "cleared"))
    if state.phase is Phase.firing and times.auto_resolve_s is not None and state.last_problem_at is not None \
            and now - state.last_problem_at >= timedelta(seconds=times.auto_resolve_s):
        state, events = _chain(events, _resolve(rule, state, now, "auto_resolved"))
    if state.phase is Phase.firing and state.ack is not None and state.ack.until <= now:
        assert state.alert_id is not None
        events.append(AlertUnacknowledged(**_common(state, now), acknowledged_by=state.ack.by))
        state = state.model_copy(update={"ack": None})
    policy = rule.flapping if rule is not None else None
    if state.flapping and (policy is None or not state.changes
                           or now - state.changes[-1] >= timedelta(seconds=policy.stable_s)):
        events.append(AlertStable(**_common(state, now), firing=state.phase is Phase.firing))
        state = state.model_copy(update={"flapping": False, "changes": ()})
    return state, events


def acknowledge(state: AlertState, alert: uuid.UUID, by: str, note: str, until: datetime, now: datetime) -> Step:
    """Acknowledge the firing alert `alert` until `until`. [] when it is not the firing alert (resolved meanwhile),
    when `until` is not after `now`, or when this very acknowledgement is already in place."""
    ack = Ack(by=by, note=note, until=until)
    if state.phase is not Phase.firing or state.alert_id != alert or until <= now or state.ack == ack:
        return state, []
    event = AlertAcknowledged(**_common(state, now), by=by, note=note, until=until)
    return state.model_copy(update={"ack": ack}), [event]


def raise_manual(state: AlertState, severity: Severity, summary_: str, labels: dict[str, str], now: datetime,
                 value: float | None = None) -> Step:
    """A manual or system-wide alert (state from initial_state(None, subject)); [] when it is already firing."""
    if state.rule_id is not None:
        raise ValueError("a manual alert has no rule")
    if state.phase is Phase.firing:
        return state, []
    number = state.raises + 1
    labels = {**labels, "subject": state.subject, "severity": severity.value}
    state = state.model_copy(update={"phase": Phase.firing, "raises": number, "value": value, "labels": labels,
                                     "alert_id": alert_id(state.fingerprint, number), "last_problem_at": now})
    return state, [AlertRaised(**_common(state, now), severity=severity, summary=summary_, value=value,
                               labels=labels)]


def silence(state: AlertState, events: list[AlertEvent], silence_id: uuid.UUID | None, until: datetime | None,
            now: datetime) -> Step:
    """Bring the firing alert's silenced mark in line with the mute silence covering it at `now` (None: none does;
    `until` is that silence's end). An alert raised among `events` carries the silence itself
    (AlertRaised.silenced_by); a later change is an AlertSilenced or AlertUnsilenced event."""
    if state.phase is not Phase.firing or silence_id == state.silenced_by:
        return state, events
    before = state.silenced_by
    state = state.model_copy(update={"silenced_by": silence_id})
    raised = [i for i, e in enumerate(events) if isinstance(e, AlertRaised) and e.alert_id == state.alert_id]
    if raised:
        changed = list(events)
        changed[raised[-1]] = changed[raised[-1]].model_copy(update={"silenced_by": silence_id})
        return state, changed
    if silence_id is None:
        assert before is not None
        return state, [*events, AlertUnsilenced(**_common(state, now), silence_id=before)]
    assert until is not None
    return state, [*events, AlertSilenced(**_common(state, now), silence_id=silence_id, until=until)]


def resolve(rule: AlertRule | None, state: AlertState, now: datetime, reason: ResolveReason = "manual") -> Step:
    """Resolve the firing alert by hand (`manual`) or because its rule was deleted (`rule_deleted`)."""
    if state.phase is not Phase.firing:
        return state, []
    return _resolve(rule, state, now, reason)


def _raise(rule: AlertRule, state: AlertState, now: datetime) -> Step:
    number = state.raises + 1
    state = state.model_copy(update={
        "phase": Phase.firing, "pending_since": None, "clear_since": None, "last_problem_at": now, "ack": None,
        "raises": number, "alert_id": alert_id(state.fingerprint, number), "silenced_by": None,
        "labels": alert_labels(rule, state.subject, state.observed_labels)})
    state, flapping = _count_change(rule.flapping, state, now)
    raised = AlertRaised(**_common(state, now), severity=rule.severity, value=state.value, flapping=state.flapping,
                         summary=summary(rule, state.subject, state.value),
                         labels=state.labels)
    return state, [raised, *flapping]


def _resolve(rule: AlertRule | None, state: AlertState, now: datetime, reason: ResolveReason) -> Step:
    firing = state
    state = state.model_copy(update={"phase": Phase.inactive, "alert_id": None, "ack": None, "clear_since": None,
                                     "last_problem_at": None, "silenced_by": None})
    state, flapping = _count_change(rule.flapping if rule is not None else None, state, now)
    resolved = AlertResolved(**_common(firing, now), reason=reason, value=state.value, flapping=state.flapping)
    return state, [resolved, *flapping]


def _count_change(policy: FlapPolicy | None, state: AlertState, now: datetime) -> Step:
    if policy is None:
        return state, []
    window = timedelta(seconds=policy.window_s)
    recent = (*(t for t in state.changes if now - t < window), now)[-(policy.max_changes + 1):]
    state = state.model_copy(update={"changes": recent})
    if state.flapping or len(recent) <= policy.max_changes:
        return state, []
    state = state.model_copy(update={"flapping": True})
    return state, [AlertFlapping(**_common(state, now), changes=len(recent), window_s=policy.window_s)]


def _chain(events: list[AlertEvent], step: Step) -> Step:
    state, more = step
    return state, events + more


def _common(state: AlertState, now: datetime) -> dict[str, Any]:
    return {"alert_id": state.alert_id, "rule_id": state.rule_id, "fingerprint": state.fingerprint,
            "subject": state.subject, "at": now}
