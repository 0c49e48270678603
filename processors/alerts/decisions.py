"""What the alert agents decide, as pure functions over the rule book (rules and silences as this worker knows
them): the envelope of a lifecycle event, a request's outcome, silences applied to a step, which timers are due."""

from __future__ import annotations

from datetime import datetime
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


def nothing_due(book: RuleBook, stored: dict[str, Any]) -> bool:
    """True when no timer can fire for this stored state (the table's JSON form): firing, not flapping, not
    acknowledged, its condition not cleared, its rule known here with no auto-resolve, and no silence anywhere. Read
    from the dict without validating it, because the timer visits every firing alert each second: with thousands
    of them, validating each state cost more than the events and blocked the event loop (BENCHMARKS.md)."""
    if stored["phase"] != Phase.firing or stored["flapping"] or stored["ack"] is not None:
        return False
    if stored["clear_since"] is not None or stored["silenced_by"] is not None or book.silences:
        return False
    rule = book.rules.get(stored["rule_id"] or "")
    return rule is not None and timing(rule.params).auto_resolve_s is None


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
