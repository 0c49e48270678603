"""Every worker's copy of the alert rules and silences: a plain consumer of ALL partitions of alerts.rules (not a
group member), folded into in-memory maps. A rule may concern any subject, so any worker may need any rule; the
topic is small (definitions, not measurements), so reading all of it at start is cheap.

`caught_up(t)` waits until every definition written before moment t is folded in, so an event routed after it sees
the rules and silences created before the event was.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from infra import kafka_clients
from infra.kafka import IDLE_FETCHER_WAKE_MS, FetchPacing, partitions_of
from processors.alerts.index import RuleIndex
from processors.alerts.rules import Observation
from schemas.alerts.rules import AlertRule, AlertRuleCreated, AlertRuleDeleted, AlertRuleUpdated
from schemas.alerts.silences import SilenceCreated, SilenceDeleted, SilenceExpired, active, is_silenced
from schemas.catalog import REGISTRY
from schemas.envelope import Envelope
from schemas.registry import EventDecodeError
from schemas.topics import ALERT_RULES

log = structlog.get_logger(__name__)


class RuleBook:
    def __init__(self, idle_fetch_wait_ms: int = 0) -> None:
        self.idle_fetch_wait_ms = idle_fetch_wait_ms  # rules change rarely: ask less often once quiet
        self.rules: dict[str, AlertRule] = {}
        self.versions: dict[str, int] = {}
        self.changes = 0  # rule versions folded: what was worked out from the rules (due times) is stale when it moves
        self.deleted: set[str] = set()
        self.silences: dict[uuid.UUID, SilenceCreated] = {}
        self.ended: set[uuid.UUID] = set()
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._moved = asyncio.Event()
        self._index: RuleIndex | None = None
        self._dumped: dict[str, dict[str, Any]] = {}
        self.synced_at_ms = 0.0  # every definition written before this wall-clock moment is folded in
        self._sync: asyncio.Future[None] | None = None

    def index(self) -> RuleIndex:
        if self._index is None:
            self._index = RuleIndex(self.rules.values())
            self._dumped = {}
        return self._index

    def candidates(self, observation: Observation) -> list[AlertRule]:
        """The rules that may look at `observation` (every one that does, perhaps a few that do not)."""
        return self.index().candidates(observation)

    def dumped(self, rule: AlertRule) -> dict[str, Any]:
        """A rule as it travels with its observations, dumped once per version (not once per observation)."""
        found = self._dumped.get(rule.rule_id)
        if found is None or found["version"] != rule.version:
            found = self._dumped[rule.rule_id] = rule.model_dump(mode="json")
        return found

    def apply(self, envelope: Envelope) -> None:
        """Fold one definition event. Rule events name the version they create; a stale or repeated one is a no-op."""
        data = envelope.data
        if isinstance(data, AlertRuleCreated | AlertRuleUpdated | AlertRuleDeleted):
            if data.version <= self.versions.get(data.rule_id, 0):
                return
            self.versions[data.rule_id] = data.version
            self.changes += 1
            self._index = None
            if isinstance(data, AlertRuleDeleted):
                self.rules.pop(data.rule_id, None)
                self.deleted.add(data.rule_id)
            else:
                self.rules[data.rule_id] = AlertRule.model_validate(data.model_dump())
        elif isinstance(data, SilenceCreated) and data.silence_id not in self.ended:
            self.silences[data.silence_id] = data
        elif isinstance(data, SilenceDeleted | SilenceExpired):
            self.ended.add(data.silence_id)
            self.silences.pop(data.silence_id, None)

    def covering(self, labels: dict[str, str], now: datetime) -> SilenceCreated | None:
        return is_silenced(labels, self.silences.values(), now)

    def skips(self, labels: dict[str, str], now: datetime) -> bool:
        silence = self.covering(labels, now)
        return silence is not None and silence.mode == "skip_evaluation"

    def in_force(self, now: datetime) -> list[SilenceCreated]:
        return [s for s in self.silences.values() if active(s, now)]

    async def run(self, bootstrap: str) -> None:
        consumer = kafka_clients.consumer(bootstrap, group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest", fetch_max_wait_ms=20,
                                    consumer_timeout_ms=IDLE_FETCHER_WAKE_MS)
        await consumer.start()
        try:
            self._partitions = [TopicPartition(ALERT_RULES, p) for p in await partitions_of(consumer, ALERT_RULES)]
            consumer.assign(self._partitions)
            await consumer.seek_to_beginning(*self._partitions)
            self._consumer = consumer
            pacing = FetchPacing(consumer, busy_ms=20, idle_ms=self.idle_fetch_wait_ms)
            while True:
                batch = await consumer.getmany(timeout_ms=1000, max_records=5000)  # returns as soon as records come
                pacing.saw(sum(len(messages) for messages in batch.values()))
                for messages in batch.values():
                    for message in messages:
                        try:
                            self.apply(REGISTRY.decode(message.value))
                        except EventDecodeError as e:  # the alerts projection dead-letters it
                            log.warning("alerts.bad_definition", offset=message.offset, error=str(e))
                self._moved.set()
                self._moved = asyncio.Event()
        finally:
            self._consumer = None
            await consumer.stop()

    async def caught_up(self, written_before_ms: float | None = None, timeout_s: float = 10.0) -> None:
        """Wait until every definition written before `written_before_ms` (wall-clock ms, e.g. the timestamp of the
        event about to be routed; now by default) is folded in. One look at the topic's end serves every caller
        whose moment it covers, so routing event after event does not cost a round trip each."""
        target = written_before_ms if written_before_ms is not None else time.time() * 1000
        deadline = asyncio.get_running_loop().time() + timeout_s
        while self.synced_at_ms < target:
            if self._sync is None or self._sync.done():
                self._sync = asyncio.ensure_future(self._look(deadline))
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError("the alert rules could not be read in time")
            await asyncio.wait_for(asyncio.shield(self._sync), left)

    async def _look(self, deadline: float) -> None:
        """Read the topic's end, then wait until the book has folded up to it. Ends are the larger of ListOffsets and
        the fetch high watermark (Tansu under-reports the first after batched writes)."""
        started = time.time() * 1000  # everything written before this moment is below the ends read next
        while self._consumer is None:
            await self._wait_moved(deadline)
        consumer = self._consumer
        listed = await consumer.end_offsets(self._partitions)
        ends = {tp: max(listed[tp], consumer.highwater(tp) or 0) for tp in self._partitions}
        for tp, end in ends.items():
            while await consumer.position(tp) < end:
                await self._wait_moved(deadline)
        self.synced_at_ms = max(self.synced_at_ms, started)

    async def _wait_moved(self, deadline: float) -> None:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise TimeoutError("the alert rules could not be read in time")
        try:
            await asyncio.wait_for(self._moved.wait(), timeout=min(left, 1.0))
        except TimeoutError:
            pass
