"""Alert agents: source events -> observations routed by fingerprint (rule + subject) -> the alert state machine
(a Faust table keyed by fingerprint) -> lifecycle events on alerts.events.

Two stages, because a source event is keyed by its own subject and one event may concern many rules:
1. `alert-sources` reads every source topic, turns each event into observations (alert_observations), and for each
   rule that looks at one (and no skip_evaluation silence covers it) sends {rule, observation} to the internal
   observations topic keyed by fingerprint. The rule travels with the observation, so stage 2 decides from its input.
2. `alert-observations`, `alert-commands` (acknowledge / resolve / manual raise requests) and `alert-ticks` (timers)
   share the table; all three topics are keyed by fingerprint with the same partition count (co-partitioned).
Rules and silences reach every worker through processors.alert_book. A Faust table may only change inside a stream
iteration, so the timer only looks and sends ticks (as processors/cylinders.py does).

Lifecycle event ids are computed from the event (lifecycle_event_id), and the state remembers what its last few
inputs led to, so an input redelivered after a crash that saved the state but lost the events sends them again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import faust
import structlog

from infra.settings import Settings
from infra.topics import ALERT_TABLE
from processors.alerts.book import RuleBook
from processors.alerts.machine import (
    AlertState,
    Phase,
    Step,
    acknowledge,
    evaluate,
    initial_state,
    raise_manual,
    resolve,
    silence,
    tick,
)
from processors.alerts.observations import from_wire, observations_of, to_wire
from processors.alerts.rules import alert_labels, classify, timing
from processors.codec import DecodeFailure
from schemas.alerts.identity import fingerprint, lifecycle_event_id
from schemas.alerts.lifecycle import (
    AlertAcknowledgeRequested,
    AlertCommand,
    AlertCommandRefused,
    AlertEvent,
    AlertRaiseRequested,
    AlertResolveRequested,
)
from schemas.alerts.rules import AlertRule
from schemas.alerts.silences import SilenceExpired
from schemas.catalog import REGISTRY
from schemas.envelope import Envelope, derived_event_id, stable_event_id, utc_now

log = structlog.get_logger(__name__)
SOURCE = "processors.alerts"
TICK_INTERVAL_S = 1.0  # timers (for, keep_firing_for, ack expiry, silences) are checked this often
RECENT_KEPT = 8


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
        current = state or initial_state(None, data.subject)
        after, events = raise_manual(current, data.severity, data.summary, dict(data.labels), data.at)
        if not events:
            return state, [refusal(command, f"a manual alert for {data.subject!r} is already firing")]
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


def register(app: faust.App, settings: Settings, *, sources: Any, observed: Any, commands: Any, ticks: Any,
             events: Any, rules_topic: Any) -> RuleBook:
    book = RuleBook()
    table = app.Table(ALERT_TABLE, default=None, partitions=settings.topic_partitions)

    def load(key: str) -> tuple[AlertState | None, list[list[Any]]]:
        raw = table.get(key)
        if not raw:
            return None, []
        return AlertState.model_validate(raw["state"]), raw.get("recent", [])

    async def decided(key: str, input_id: str, state: AlertState | None, recent: list[list[Any]],
                      derived: list[Any], cause: dict[str, Any]) -> None:
        """Send what an input led to (in order, keyed by fingerprint), then remember the state and the outcome."""
        encoded = []
        for event in derived:
            envelope = lifecycle_envelope(event, cause)
            encoded.append(REGISTRY.encode(envelope).decode())
            await events.send(key=key.encode(), value=envelope)
        if state is not None:
            table[key] = {"state": state.model_dump(mode="json"),
                          "recent": [*recent, [input_id, encoded]][-RECENT_KEPT:]}

    async def repeated(key: str, input_id: str, recent: list[list[Any]]) -> bool:
        """A redelivered input: send again what it led to (lost, perhaps, in a crash); True if it was one."""
        for seen_id, encoded in recent:
            if seen_id == input_id:
                for raw in encoded:
                    await events.send(key=key.encode(), value=REGISTRY.decode(raw.encode()))
                return True
        return False

    @app.task
    async def keep_rules() -> None:
        await book.run(settings.kafka_bootstrap_servers)

    @app.agent(sources, name="alert-sources")
    async def observe(stream: Any) -> None:
        async for batch in stream.take_events(2000, within=0.02):
            try:
                await book.caught_up()
            except TimeoutError:
                log.warning("alerts.rules_not_caught_up", rules=len(book.rules))
            for event in batch:
                value = event.value
                if isinstance(value, DecodeFailure) or not book.rules:
                    continue  # undecodable records are dead-lettered by the topic's own consumers
                await route(value)

    async def route(envelope: Envelope) -> None:
        now = envelope.occurred_at
        for observation in observations_of(envelope):
            for rule in book.candidates(observation):
                if classify(rule.params, observation) is None:
                    continue
                if book.skips(alert_labels(rule, observation.subject, observation.labels), now):
                    continue
                key = fingerprint(rule.rule_id, observation.subject)
                await observed.send(key=key.encode(), value={
                    "rule": rule.model_dump(mode="json"), "observation": to_wire(observation),
                    "at": now.isoformat(), "cause": cause_of(envelope)})

    @app.agent(observed, name="alert-observations")
    async def evaluate_observations(stream: Any) -> None:
        async for event in stream.events():
            key, body = _key(event.key), event.value
            rule = AlertRule.model_validate(body["rule"])
            observation = from_wire(body["observation"])
            state, recent = load(key)
            if await repeated(key, observation.observation_id, recent):
                continue
            now = datetime.fromisoformat(body["at"])
            step = evaluate(rule, state or initial_state(rule.rule_id, observation.subject), observation, now)
            after, derived = with_silence(book, step, now)
            if after != state:
                await decided(key, observation.observation_id, after, recent, derived, body["cause"])

    @app.agent(commands, name="alert-commands")
    async def decide_commands(stream: Any) -> None:
        async for event in stream.events():
            value = event.value
            if isinstance(value, DecodeFailure) or not isinstance(value.data, AlertCommand):
                continue  # dead-lettered by the alerts projection
            key = value.data.fingerprint
            state, recent = load(key)
            if await repeated(key, str(value.event_id), recent):
                continue
            after, derived = decide_command(book, state, value)
            if after is not None and after.phase is Phase.firing:
                after, derived = with_silence(book, (after, derived), value.data.at)
            if after is None:  # refused before any alert existed: nothing to remember
                for refused in derived:
                    await events.send(key=key.encode(), value=lifecycle_envelope(refused, cause_of(value)))
                continue
            await decided(key, str(value.event_id), after, recent, derived, cause_of(value))

    @app.agent(ticks, name="alert-ticks")
    async def apply_ticks(stream: Any) -> None:
        async for event in stream.events():
            key = _key(event.key)
            state, recent = load(key)
            at = datetime.fromisoformat(event.value["at"])
            step = tick_step(book, state, at) if state is not None else None
            if step is not None and step[0] != state:
                await decided(key, f"tick:{event.value['at']}", step[0], recent, step[1], {})

    @app.timer(interval=TICK_INTERVAL_S)
    async def alert_timers() -> None:
        """Send a tick to each fingerprint held here that has a timer due (or a silence change); the ticks agent
        decides. Idempotent: once applied, the same tick finds nothing due."""
        now = utc_now()
        for key, raw in list(table.items()):
            if not raw or (raw["state"]["phase"] == Phase.inactive and not raw["state"]["flapping"]) \
                    or nothing_due(book, raw["state"]):
                continue
            state = AlertState.model_validate(raw["state"])
            step = tick_step(book, state, now)
            if step is not None and step[0] != state:
                await ticks.send(key=key.encode(), value={"at": now.isoformat()})

    @app.timer(interval=TICK_INTERVAL_S, on_leader=True)
    async def silence_expiry() -> None:
        """Announce silences that reached their end (one worker; the id is computed, so a repeat is harmless)."""
        now = utc_now()
        for ended in [s for s in book.silences.values() if s.ends_at <= now]:
            done = SilenceExpired(silence_id=ended.silence_id, at=ended.ends_at)
            await rules_topic.send(key=str(ended.silence_id).encode(), value=REGISTRY.event(
                done, event_id=stable_event_id(ended.ends_at, f"SilenceExpired:{ended.silence_id}"),
                occurred_at=ended.ends_at, source=SOURCE, subject=str(ended.silence_id)))
            book.ended.add(ended.silence_id)
            book.silences.pop(ended.silence_id, None)

    return book


def _key(key: Any) -> str:
    return key.decode() if isinstance(key, bytes) else str(key)

