"""Alert agents: source events -> observations routed by fingerprint (rule + subject) -> the alert state machine
(a Faust table keyed by fingerprint) -> lifecycle events on alerts.events.

Two stages, because a source event is keyed by its own subject and one event may concern many rules:
1. the router (processors/alerts/routing.py), run in-process by the domain agents and by `alert-sources` (the
   topics no domain agent reads), turns each event into observations and for each rule that looks at one (and no
   skip_evaluation silence covers it) sends {rule, observation} to the internal observations topic keyed by
   fingerprint. The rule travels with the observation, so stage 2 decides from its input.
2. `alert-observations`, `alert-commands` (acknowledge / resolve / manual raise requests) and `alert-ticks` (timers)
   share the table; all three topics are keyed by fingerprint with the same partition count (co-partitioned).
Rules and silences reach every worker through processors.alerts.book. A Faust table may only change inside a stream
iteration, so the timer only looks and sends ticks (as processors/cylinders/agents.py does).

Lifecycle event ids are computed from the event (lifecycle_event_id), and the state remembers what its last few
inputs led to, so an input redelivered after a crash that saved the state but lost the events sends them again.
Each agent and timer is one method of AlertAgents, which holds what they share; register() wires them to the app.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import faust
import structlog

from infra.settings import Settings
from infra.topics import ALERT_TABLE
from processors.alerts.book import RuleBook
from processors.alerts.decisions import (
    SOURCE,
    cause_of,
    decide_command,
    lifecycle_envelope,
    tick_step,
    with_silence,
)
from processors.alerts.due import DueTimes
from processors.alerts.machine import AlertState, Phase, evaluate, initial_state
from processors.alerts.observations import from_wire
from processors.alerts.routing import AlertRouter
from processors.codec import DecodeFailure
from processors.streams import written_ms
from schemas.alerts.lifecycle import AlertCommand
from schemas.alerts.rules import AlertRule
from schemas.alerts.silences import SilenceExpired
from schemas.catalog import REGISTRY
from schemas.envelope import stable_event_id, utc_now

log = structlog.get_logger(__name__)
TICK_INTERVAL_S = 1.0  # timers (for, keep_firing_for, ack expiry, silences) are checked this often
RECENT_KEPT = 8
Recent = list[list[Any]]  # [input id, [encoded events it led to]], newest last


class AlertAgents:
    """The alert table, the rule book and the topics the agents write to."""

    def __init__(self, app: faust.App, settings: Settings, *, observed: Any, ticks: Any, events: Any,
                 rules_topic: Any) -> None:
        self.app = app
        self.book = RuleBook(settings.kafka_idle_fetch_wait_ms)
        self.table = app.Table(ALERT_TABLE, default=None, partitions=settings.topic_partitions)
        self.due = DueTimes()
        self.table.on_recover(self.recovered)
        self.observed, self.ticks, self.events, self.rules_topic = observed, ticks, events, rules_topic
        self.bootstrap = settings.kafka_bootstrap_servers
        self.router = AlertRouter(self.book, observed)
        self._rules: dict[tuple[str, int], AlertRule] = {}

    def load(self, key: str) -> tuple[AlertState | None, Recent]:
        raw = self.table.get(key)
        if not raw:
            return None, []
        return AlertState.model_validate(raw["state"]), raw.get("recent", [])

    async def decided(self, key: str, input_id: str, state: AlertState | None, recent: Recent, derived: list[Any],
                      cause: dict[str, Any]) -> None:
        """Send what an input led to (in order, keyed by fingerprint), then remember the state and the outcome."""
        encoded = []
        for event in derived:
            raw = REGISTRY.encode(lifecycle_envelope(event, cause))
            encoded.append(raw.decode())
            await self.events.send(key=key.encode(), value=raw)  # the codec passes encoded bytes through
        if state is not None:
            self.table[key] = {"state": state.model_dump(mode="json"),
                               "recent": [*recent, [input_id, encoded]][-RECENT_KEPT:]}
            self.due.wrote(key)

    async def repeated(self, key: str, input_id: str, recent: Recent) -> bool:
        """A redelivered input: send again what it led to (lost, perhaps, in a crash); True if it was one."""
        for seen_id, encoded in recent:
            if seen_id == input_id:
                for raw in encoded:
                    await self.events.send(key=key.encode(), value=raw.encode())
                return True
        return False

    async def keep_rules(self) -> None:
        """Task: every worker folds all of alerts.rules into its rule book."""
        await self.book.run(self.bootstrap)

    async def observe(self, stream: Any) -> None:
        """Agent `alert-sources`: the source topics no domain agent reads, through the same router."""
        async for batch in stream.take_events(2000, within=0.02):
            await self.router.ready(written_ms(*batch))
            for event in batch:
                if not isinstance(event.value, DecodeFailure):  # dead-lettered by the topic's own consumers
                    await self.router.route(event.value)

    def rule_of(self, body: dict[str, Any]) -> AlertRule:
        """The rule an observation carries, validated once per version (not once per observation)."""
        key = (body["rule_id"], body["version"])
        rule = self._rules.get(key)
        if rule is None:
            if len(self._rules) > 10_000:
                self._rules.clear()
            rule = self._rules[key] = AlertRule.model_validate(body)
        return rule

    async def evaluate_observations(self, stream: Any) -> None:
        """Agent `alert-observations`: the state machine applied to each routed observation."""
        async for event in stream.events():
            key, body = _key(event.key), event.value
            rule = self.rule_of(body["rule"])
            observation = from_wire(body["observation"])
            state, recent = self.load(key)
            if await self.repeated(key, observation.observation_id, recent):
                continue
            now = datetime.fromisoformat(body["at"])
            step = evaluate(rule, state or initial_state(rule.rule_id, observation.subject), observation, now)
            after, derived = with_silence(self.book, step, now)
            if after != state:
                await self.decided(key, observation.observation_id, after, recent, derived, body["cause"])

    async def decide_commands(self, stream: Any) -> None:
        """Agent `alert-commands`: acknowledge / resolve / manual raise requests, decided or refused."""
        async for event in stream.events():
            value = event.value
            if isinstance(value, DecodeFailure) or not isinstance(value.data, AlertCommand):
                continue  # dead-lettered by the alerts projection
            key = value.data.fingerprint
            state, recent = self.load(key)
            if await self.repeated(key, str(value.event_id), recent):
                continue
            after, derived = decide_command(self.book, state, value)
            if after is not None and after.phase is Phase.firing:
                after, derived = with_silence(self.book, (after, derived), value.data.at)
            if after is None:  # refused before any alert existed: nothing to remember
                for refused in derived:
                    await self.events.send(key=key.encode(), value=lifecycle_envelope(refused, cause_of(value)))
                continue
            await self.decided(key, str(value.event_id), after, recent, derived, cause_of(value))

    async def apply_ticks(self, stream: Any) -> None:
        """Agent `alert-ticks`: the timers due at the tick's time."""
        async for event in stream.events():
            key = _key(event.key)
            state, recent = self.load(key)
            at = datetime.fromisoformat(event.value["at"])
            step = tick_step(self.book, state, at) if state is not None else None
            if step is not None and step[0] != state:
                await self.decided(key, f"tick:{event.value['at']}", step[0], recent, step[1], {})

    async def alert_timers(self) -> None:
        """Timer: send a tick to each fingerprint held here that has a timer due (or a silence change); the ticks
        agent decides. Idempotent: once applied, the same tick finds nothing due. Only the states whose due time has
        come are looked at (processors/alerts/due.py): a second's pass costs nothing per alert that is not due."""
        now = utc_now()
        generation = None if self.app.in_recovery else self.app.consumer_generation_id
        for key, stored in self.due.due(self.table, self.book, now, generation):
            state = AlertState.model_validate(stored)
            step = tick_step(self.book, state, now)
            if step is not None and step[0] != state:
                await self.ticks.send(key=key.encode(), value={"at": now.isoformat()})

    async def recovered(self) -> None:
        """Table callback: a recovery refilled states without the agents; the timer looks at every one again."""
        self.due.forget()

    async def silence_expiry(self) -> None:
        """Leader timer: announce silences that reached their end (the id is computed, so a repeat is harmless)."""
        now = utc_now()
        for ended in [s for s in self.book.silences.values() if s.ends_at <= now]:
            done = SilenceExpired(silence_id=ended.silence_id, at=ended.ends_at)
            await self.rules_topic.send(key=str(ended.silence_id).encode(), value=REGISTRY.event(
                done, event_id=stable_event_id(ended.ends_at, f"SilenceExpired:{ended.silence_id}"),
                occurred_at=ended.ends_at, source=SOURCE, subject=str(ended.silence_id)))
            self.book.ended.add(ended.silence_id)
            self.book.silences.pop(ended.silence_id, None)


def register(app: faust.App, settings: Settings, *, sources: Any, observed: Any, commands: Any, ticks: Any,
             events: Any, rules_topic: Any) -> AlertRouter:
    """Wire the alert agents; returns the router the domain agents hand their events to."""
    agents = AlertAgents(app, settings, observed=observed, ticks=ticks, events=events, rules_topic=rules_topic)
    app.task(agents.keep_rules)
    app.agent(sources, name="alert-sources")(agents.observe)
    app.agent(observed, name="alert-observations")(agents.evaluate_observations)
    app.agent(commands, name="alert-commands")(agents.decide_commands)
    app.agent(ticks, name="alert-ticks")(agents.apply_ticks)
    app.timer(interval=TICK_INTERVAL_S)(agents.alert_timers)
    app.timer(interval=TICK_INTERVAL_S, on_leader=True)(agents.silence_expiry)
    return agents.router


def _key(key: Any) -> str:
    return key.decode() if isinstance(key, bytes) else str(key)
