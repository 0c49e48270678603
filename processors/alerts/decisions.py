"""What the alert agents decide, as pure functions over the rule book (rules and silences as this worker knows
them): the envelope of a lifecycle event, a request's outcome, silences applied to a step, which timers are due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from processors.alerts.book import RuleBook
from processors.alerts.machine import (
    AlertState,
    Phase,
    Step,
    acknowledge,
    initial_state,
    raise_manual,
    resolve,
    silence,
    tick,
)
from processors.alerts.rules import timing
from schemas.alerts.identity import lifecycle_event_id
from schemas.alerts.lifecycle import (
    AlertAcknowledgeRequested,
    AlertCommand,
    AlertCommandRefused,
    AlertEvent,
    AlertRaiseRequested,
    AlertResolveRequested,
)
from schemas.catalog import REGISTRY
from schemas.envelope import Envelope, derived_event_id

SOURCE = "processors.alerts"


def lifecycle_envelope(event: AlertEvent | AlertCommandRefused, cause: dict[str, Any]) -> Envelope:
    if isinstance(event, AlertCommandRefused):
        event_id = derived_event_id(event.command_id, "AlertCommandRefused")
    else:
        event_id = lifecycle_event_id(event)
    return REGISTRY.event(event, event_id=event_id, occurred_at=event.at, source=SOURCE,
                          subject=event.fingerprint, actor=cause.get("actor"),
                          causation_id=cause.get("id"), correlation_id=cause.get("correlation_id"))


def cause_of(envelope: Envelope) -> dict[str, Any]:
    return {"id": str(envelope.event_id), "actor": envelope.actor, "correlation_id": envelope.correlation_id}


def refusal(command: Envelope, reason: str) -> AlertCommandRefused:
    data = command.data
    assert isinstance(data, AlertCommand)
    return AlertCommandRefused(command_id=command.event_id, command_type=command.type, fingerprint=data.fingerprint,
                               alert_id=getattr(data, "alert_id", None), reason=reason, at=data.at)


def decide_command(book: RuleBook, state: AlertState | None, command: Envelope) -> tuple[AlertState | None, list[Any]]:
    """What a request does to the alert; a request that does not fit is refused (AlertCommandRefused), which the
    API shows as 409 with ?wait=true."""
    data = command.data
    if isinstance(data, AlertRaiseRequested):
        current = state or initial_state(None, data.subject, data.labels)
        after, events = raise_manual(current, data.severity, data.summary, dict(data.labels), data.at)
        if not events:
            return state, [refusal(command, f"a manual alert for {data.subject!r} with these labels is already "
                                            "firing")]
        return after, events
    assert isinstance(data, AlertAcknowledgeRequested | AlertResolveRequested)
    if state is None or state.phase is not Phase.firing or state.alert_id != data.alert_id:
        return state, [refusal(command, "the alert is not firing (it has resolved)")]
    if isinstance(data, AlertResolveRequested):
        return resolve(book.rules.get(state.rule_id or ""), state, data.at, "manual")
    if data.until <= data.at:
        return state, [refusal(command, "until must be in the future")]
    after, events = acknowledge(state, data.alert_id, data.by, data.note, data.until, data.at)
    return after, events or [refusal(command, "already acknowledged so")]


def with_silence(book: RuleBook, step: Step, now: datetime) -> Step:
    state, events = step
    if state.phase is not Phase.firing:
        return state, events
    covering = book.covering(state.labels, now)
    return silence(state, events, covering.silence_id if covering else None,
                   covering.ends_at if covering else None, now)


EVERY_TICK = datetime.min.replace(tzinfo=UTC)  # due at once, and again at every tick until the state changes


def due_at(book: RuleBook, stored: dict[str, Any]) -> datetime | None:
    """The earliest moment a timer can act on this stored state (the table's JSON form): before it, tick_step
    changes nothing. None: no timer can until the state itself changes; EVERY_TICK: the full path looks at every
    tick (a silence may come to cover the firing alert or leave it, or its rule is not known here). Read from the
    dict without validating it: the timer visits every alert each second, and validating each state cost more than
    the events (BENCHMARKS.md). The cases follow machine.tick and with_silence, one for one."""
    phase, flapping = stored["phase"], stored["flapping"]
    if phase == Phase.inactive and not flapping:
        return None
    firing = phase == Phase.firing
    if firing and (stored["silenced_by"] is not None or book.silences):
        return EVERY_TICK
    rule = None
    if stored["rule_id"] is not None:
        rule = book.rules.get(stored["rule_id"])
        if rule is None:
            return EVERY_TICK
    times = timing(rule.params if rule is not None else None)
    due = []
    if rule is not None and phase == Phase.pending and stored["pending_since"] is not None:
        due.append(_at(stored["pending_since"]) + timedelta(seconds=times.for_s))
    if firing and stored["clear_since"] is not None:
        due.append(_at(stored["clear_since"]) + timedelta(seconds=times.keep_firing_for_s))
    if firing and times.auto_resolve_s is not None and stored["last_problem_at"] is not None:
        due.append(_at(stored["last_problem_at"]) + timedelta(seconds=times.auto_resolve_s))
    if firing and stored["ack"] is not None:
        due.append(_at(stored["ack"]["until"]))
    if flapping:
        policy, changes = (rule.flapping if rule is not None else None), stored["changes"]
        due.append(EVERY_TICK if policy is None or not changes else
                   _at(changes[-1]) + timedelta(seconds=policy.stable_s))
    return min(due, default=None)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def tick_step(book: RuleBook, state: AlertState, now: datetime) -> Step | None:
    """The timers due at `now`; None when the state's rule is unknown here (not read yet)."""
    if state.rule_id is None:
        return with_silence(book, tick(None, state, now), now)
    rule = book.rules.get(state.rule_id)
    if rule is None:
        if state.rule_id not in book.deleted:
            return None
        return with_silence(book, resolve(None, state, now, "rule_deleted"), now)
    return with_silence(book, tick(rule, state, now), now)
