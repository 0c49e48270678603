"""Create the platform's topics explicitly, so partition counts are what keys and Faust expect."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from infra import kafka_clients
from infra.fetch_gate import FetchGate

log = structlog.get_logger(__name__)


async def ensure_topics(bootstrap: str, names: Iterable[str], partitions: int, replication: int = 1,
                        compacted: bool = False) -> list[str]:
    admin = kafka_clients.admin(bootstrap, client_id="opsledger-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            try:
                configs = {"cleanup.policy": "compact"} if compacted else {}
                await admin.create_topics([NewTopic(n, partitions, replication, topic_configs=configs)
                                           for n in missing])
            except TopicAlreadyExistsError:
                pass  # another component created it first
            log.info("topics.created", topics=missing, partitions=partitions)
        return missing
    finally:
        await admin.close()


async def partitions_of(consumer: AIOKafkaConsumer, topic: str, attempts: int = 50) -> list[int]:
    """The partitions of a topic, refreshing metadata until the broker knows it.

    The topic is tracked first: once a consumer is assigned partitions, aiokafka asks the broker for the metadata of
    the assigned topics only and forgets every other topic's, so a refresh alone would never bring this one back
    (one fetching consumer serves every projection of a process, and they take their partitions one by one)."""
    client = consumer._client  # noqa: SLF001 - aiokafka has no public call for either
    for _ in range(attempts):
        found = consumer.partitions_for_topic(topic)
        if found:
            return sorted(found)
        client.add_topic(topic)
        await client.force_metadata_update()
        found = consumer.partitions_for_topic(topic)
        if found:
            return sorted(found)
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topic {topic} has no partitions (was it created?)")


async def end_offsets(bootstrap: str, names: Iterable[str], timeout_s: float = 5.0) -> dict[TopicPartition, int]:
    """The next offset of every partition of these topics (where a caught-up consumer would stand)."""
    consumer = _offsets_consumer(bootstrap)
    try:
        await consumer.start()
        partitions = [TopicPartition(name, p) for name in names for p in await partitions_of(consumer, name)]
        return await _exact(consumer, partitions, timeout_s)
    finally:
        await consumer.stop()  # also after a failed start: it holds connections and a task


async def exact_end_offsets(bootstrap: str, partitions: Iterable[TopicPartition], timeout_s: float = 5.0
                            ) -> dict[TopicPartition, int]:
    consumer = _offsets_consumer(bootstrap)
    try:
        await consumer.start()
        return await _exact(consumer, [TopicPartition(tp.topic, tp.partition) for tp in partitions], timeout_s)
    finally:
        await consumer.stop()


def _offsets_consumer(bootstrap: str) -> AIOKafkaConsumer:
    return kafka_clients.consumer(bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10,
                            max_partition_fetch_bytes=1024)


async def _exact(consumer: AIOKafkaConsumer, partitions: list[TopicPartition], timeout_s: float
                 ) -> dict[TopicPartition, int]:
    """End offsets that are right on Tansu too.

    Tansu 0.6 answers ListOffsets(latest) with the last *batch's* base offset + 1, which is too low after batched
    produces; the high watermark in a fetch response is right. So: ask ListOffsets, fetch from just below its
    answer, and take the fetch's high watermark (exact on Apache Kafka too).
    """
    if not partitions:
        return {}
    listed = await consumer.end_offsets(partitions)
    consumer.assign(partitions)
    for tp in partitions:
        consumer.seek(tp, max(0, listed[tp] - 1))
    deadline = asyncio.get_running_loop().time() + timeout_s
    while any(consumer.highwater(tp) is None for tp in partitions):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the broker did not report high watermarks in time")
        await consumer.getmany(timeout_ms=50, max_records=1)
    return {tp: max(listed[tp], consumer.highwater(tp) or 0) for tp in partitions}


async def group_lag(bootstrap: str, group_id: str, names: Iterable[str],
                    known_ends: Mapping[TopicPartition, int] | None = None) -> int:
    """Records on these topics not yet committed by a consumer group (the Faust processors).
    Pass `known_ends` when the caller already fetched the end offsets."""
    wanted = set(names)
    ends = ({tp: end for tp, end in known_ends.items() if tp.topic in wanted} if known_ends is not None
            else await end_offsets(bootstrap, wanted))
    consumer = kafka_clients.consumer(bootstrap, group_id=group_id, enable_auto_commit=False)
    try:
        await consumer.start()
        lag = 0
        for tp, end in ends.items():
            lag += max(0, end - ((await consumer.committed(tp)) or 0))
        return lag
    finally:
        await consumer.stop()


#: aiokafka's `consumer_timeout_ms` for a consumer with manual assignment: how often its background fetch routine wakes
#: when it has nothing to send (every partition paused, or its records not yet taken). A resume, a seek, a consumed
#: batch or a finished fetch wake it at once anyway; the default (200 ms) woke an idle projections process's ten
#: consumers 50 times a second, 1 s still ten times.
IDLE_FETCHER_WAKE_MS = 5000


class FetchPacing:
    """A consumer's fetches: asked with a short wait while records flow; once the topics have been quiet for a while,
    held in the client while the broker is asked the cheap question instead (infra.fetch_gate).

    Tansu holds every fetch for its whole wait even when data arrives (Apache Kafka answers at once), so the wait
    is the latency a record may add at each hop; but every consumer asking every few milliseconds is what kept an
    idle embedded stack busy. Once quiet, the first record may wait up to `idle_ms` (the gate's probe interval; twice
    that after a long quiet spell) and the busy wait; the ones after it, the busy wait. With idle_ms <= busy_ms the
    consumer is never gated."""

    def __init__(self, consumer: AIOKafkaConsumer, busy_ms: int, idle_ms: int, quiet_after_s: float = 2.0) -> None:
        self.busy_ms, self.idle_ms = busy_ms, max(idle_ms, busy_ms)
        self._quiet_after_s = quiet_after_s
        self._last_record = asyncio.get_running_loop().time()
        fetcher = getattr(consumer, "_fetcher", None)  # made by consumer.start()
        self.gate = FetchGate.on(fetcher, self.idle_ms) if fetcher is not None and self.idle_ms > busy_ms else None

    @property
    def idle(self) -> bool:
        """Quiet for long enough that fetches are held (and the consumer can be gated at all)."""
        return self.gate is not None and self.gate.holding

    def saw(self, records: int) -> None:
        now = asyncio.get_running_loop().time()
        if records:
            self._last_record = now
            self._set(False)
        elif now - self._last_record > self._quiet_after_s:
            self._set(True)

    def wake(self) -> None:
        """Records are on their way (the doorbell rang): a held fetch goes now, and fetches stay short until the
        topics are quiet again."""
        self._last_record = asyncio.get_running_loop().time()
        if self.gate is not None:
            self.gate.wake()

    def _set(self, quiet: bool) -> None:
        if self.gate is not None:
            self.gate.holding = quiet
