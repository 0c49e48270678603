"""Every worker's copy of the alert rules and silences: a plain consumer of ALL partitions of alerts.rules (not a
group member), folded into in-memory maps. A rule may concern any subject, so any worker may need any rule; the
topic is small (definitions, not measurements), so reading all of it at start is cheap.

`caught_up()` waits until every definition in the topic at the moment of the call is folded in, so an event
processed after it sees the rules and silences created before it.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from infra import kafka_clients
from infra.kafka import partitions_of
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
    def __init__(self) -> None:
        self.rules: dict[str, AlertRule] = {}
        self.versions: dict[str, int] = {}
        self.deleted: set[str] = set()
        self.silences: dict[uuid.UUID, SilenceCreated] = {}
        self.ended: set[uuid.UUID] = set()
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._moved = asyncio.Event()
        self._index: RuleIndex | None = None

    def candidates(self, observation: Observation) -> list[AlertRule]:
        """The rules that may look at `observation` (every one that does, perhaps a few that do not)."""
        if self._index is None:
            self._index = RuleIndex(self.rules.values())
        return self._index.candidates(observation)

    def apply(self, envelope: Envelope) -> None:
        """Fold one definition event. Rule events name the version they create; a stale or repeated one is a no-op."""
        data = envelope.data
        if isinstance(data, AlertRuleCreated | AlertRuleUpdated | AlertRuleDeleted):
            if data.version <= self.versions.get(data.rule_id, 0):
                return
            self.versions[data.rule_id] = data.version
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
                                    auto_offset_reset="earliest", fetch_max_wait_ms=20)
        await consumer.start()
        try:
            self._partitions = [TopicPartition(ALERT_RULES, p) for p in await partitions_of(consumer, ALERT_RULES)]
            consumer.assign(self._partitions)
            await consumer.seek_to_beginning(*self._partitions)
            self._consumer = consumer
            while True:
                batch = await consumer.getmany(timeout_ms=50, max_records=5000)
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

    async def caught_up(self, timeout_s: float = 10.0) -> None:
        """Wait until every definition written before this call is folded in. Ends are the larger of ListOffsets
        and the fetch high watermark (Tansu under-reports the first after batched writes)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while self._consumer is None:
            await self._wait_moved(deadline)
        consumer = self._consumer
        listed = await consumer.end_offsets(self._partitions)
        ends = {tp: max(listed[tp], consumer.highwater(tp) or 0) for tp in self._partitions}
        for tp, end in ends.items():
            while await consumer.position(tp) < end:
                await self._wait_moved(deadline)

    async def _wait_moved(self, deadline: float) -> None:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise TimeoutError("the alert rules could not be read in time")
        try:
            await asyncio.wait_for(self._moved.wait(), timeout=min(left, 1.0))
        except TimeoutError:
            pass
