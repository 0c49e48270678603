"""One fetching consumer per projections process. It fetches every partition its projections read, once, and hands
each projection (an `Inbox`) the records of its own partitions from where that projection stands.

Ten consumers each fetching their topics every 50 ms were ~200 fetch requests a second under a stream of commands;
the embedded broker spends CPU on every partition of a fetch it holds, and each fetch was encoded, sent and decoded
by the projections process too (BENCHMARKS.md, issue 11). One consumer asks once for all of them.

Positions stay each projection's own (stored with its tables, as before). The consumer fetches a partition from the
lowest position of the projections that read it; each inbox takes only the records at or past its own position, so
a projection moved forward by a replay skips what it has, and one moved back makes the consumer seek back (the
others skip what they see again). A record is the same record whichever fetch brought it, so an inbox only needs the
batch to start at or before its position: the consumer's position is never past any reader's (it is their lowest),
and a batch that came while its partition was sought is taken only if it starts where the seek went.

A projection that falls behind holds back the partitions it reads: once its inbox holds `cap` records, those
partitions are paused for everyone until it takes some (lock-step with the slowest reader of a partition, with
`cap` records of slack; unbounded inboxes would let a slow projection fill the memory).

While its topics are quiet the consumer's fetches are held in the client (infra.fetch_gate) and the broker is asked
for end offsets instead; the doorbell (the outbox relay's notification of what it produced) lets a held fetch go at
once, so a command after a quiet spell is not kept waiting for the next probe."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from infra import kafka_clients
from infra.kafka import IDLE_FETCHER_WAKE_MS, FetchPacing, partitions_of
from projections.doorbell import Doorbell

Batch = dict[TopicPartition, list[ConsumerRecord]]


def fetching_consumer(bootstrap: str, fetch_wait_ms: int) -> AIOKafkaConsumer:
    """A consumer that reads partitions assigned to it from positions it is given (no group, nothing committed)."""
    return kafka_clients.consumer(bootstrap, enable_auto_commit=False, group_id=None, auto_offset_reset="earliest",
                                  fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=8 * 1024 * 1024,
                                  fetch_max_wait_ms=fetch_wait_ms, consumer_timeout_ms=IDLE_FETCHER_WAKE_MS)


class Source(Protocol):
    """Where a runner's records come from: its own consumer, or its inbox of the process's fanout."""

    async def partitions(self, topic: str) -> list[int]: ...
    def open(self, positions: Mapping[TopicPartition, int]) -> None: ...
    async def getmany(self, max_records: int) -> dict[TopicPartition, list[Any]]: ...
    def seek(self, tp: TopicPartition, offset: int) -> None: ...
    async def stop(self) -> None: ...


class OwnConsumer:
    """A consumer of the runner's own (a replay's, a restore's, the notifier's: one runner in its process)."""

    def __init__(self, bootstrap: str, fetch_wait_ms: int, idle_fetch_wait_ms: int) -> None:
        self._consumer = fetching_consumer(bootstrap, fetch_wait_ms)
        self._waits = (fetch_wait_ms, idle_fetch_wait_ms)

    async def start(self) -> OwnConsumer:
        await self._consumer.start()
        self._pacing = FetchPacing(self._consumer, *self._waits)
        return self

    async def partitions(self, topic: str) -> list[int]:
        return await partitions_of(self._consumer, topic)

    def open(self, positions: Mapping[TopicPartition, int]) -> None:
        self._consumer.assign(list(positions))
        for tp, offset in positions.items():
            self._consumer.seek(tp, offset)

    async def getmany(self, max_records: int) -> dict[TopicPartition, list[Any]]:
        # returns as soon as records come; a held fetch (quiet) has nothing to hand over for a while
        batch = await self._consumer.getmany(timeout_ms=500 if self._pacing.idle else 100, max_records=max_records)
        self._pacing.saw(sum(len(messages) for messages in batch.values()))
        return batch

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self._consumer.seek(tp, offset)

    async def stop(self) -> None:
        await self._consumer.stop()


class Inbox:
    """A projection's share of the fanout; what its runner asks of a consumer (`open`, `getmany`, `seek`)."""

    def __init__(self, fanout: Fanout) -> None:
        self._fanout = fanout
        self.next: dict[TopicPartition, int] = {}  # where the next record handed to it starts, per partition
        self._waiting: Batch = {}
        self.pending = 0
        self._arrived = asyncio.Event()

    async def partitions(self, topic: str) -> list[int]:
        return await partitions_of(self._fanout.consumer, topic)

    def open(self, positions: Mapping[TopicPartition, int]) -> None:
        self.next = dict(positions)
        self._fanout.follow(self)

    async def getmany(self, max_records: int, timeout_s: float = 10.0) -> Batch:
        """Up to max_records of what has come, oldest first per partition; {} after timeout_s of nothing, or at once
        when the fanout stopped."""
        if not self.pending:
            arrived = asyncio.ensure_future(self._arrived.wait())
            try:  # not wait_for: see projections/doorbell.py
                await asyncio.wait({arrived}, timeout=timeout_s)
            finally:
                arrived.cancel()
            if not self.pending:
                return {}
        taken: Batch = {}
        room = max_records
        for tp in list(self._waiting):
            records = self._waiting[tp]
            if len(records) <= room:
                taken[tp] = self._waiting.pop(tp)
            else:
                taken[tp], self._waiting[tp] = records[:room], records[room:]
            room -= len(taken[tp])
            if not room:
                break
        self._took(max_records - room)
        return taken

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Go on from `offset` in this partition: what waits of it is dropped, and comes again if it is past there."""
        self._took(len(self._waiting.pop(tp, ())))
        self.next[tp] = offset
        self._fanout.reposition((tp,))

    async def stop(self) -> None:
        pass

    def hand(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        """Records of a batch fetched from at or before this inbox's position in the partition."""
        start = self.next.get(tp)
        if start is None or records[-1].offset < start:
            return
        if records[0].offset < start:
            records = [r for r in records if r.offset >= start]
        self._waiting.setdefault(tp, []).extend(records)
        self.next[tp] = records[-1].offset + 1
        self.pending += len(records)
        self._arrived.set()

    def wake(self) -> None:
        self._arrived.set()

    @property
    def full(self) -> bool:
        return self.pending >= self._fanout.cap

    def _took(self, count: int) -> None:
        self.pending -= count
        if not self.pending:
            self._arrived.clear()
        self._fanout.made_room()


class Fanout:
    def __init__(self, bootstrap: str, *, fetch_wait_ms: int = 50, idle_fetch_wait_ms: int = 0,
                 max_records: int = 5000, cap: int = 20_000, doorbell: Doorbell | None = None) -> None:
        self._bootstrap = bootstrap
        self._fetch_wait_ms, self._idle_fetch_wait_ms = fetch_wait_ms, idle_fetch_wait_ms
        self._max_records, self.cap = max_records, cap
        self._doorbell = doorbell
        self._inboxes: list[Inbox] = []
        self._readers: dict[TopicPartition, list[Inbox]] = {}
        self._position: dict[TopicPartition, int] = {}  # where the consumer fetches each partition from
        self._generation: dict[TopicPartition, int] = {}  # moved on every seek (see run)
        self._paused: set[TopicPartition] = set()
        self._room = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None

    @property
    def consumer(self) -> AIOKafkaConsumer:
        assert self._consumer is not None, "Fanout.start() first"
        return self._consumer

    async def start(self) -> None:
        self._consumer = fetching_consumer(self._bootstrap, self._fetch_wait_ms)
        await self._consumer.start()
        self._pacing = FetchPacing(self._consumer, self._fetch_wait_ms, self._idle_fetch_wait_ms)

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    def inbox(self) -> Inbox:
        inbox = Inbox(self)
        self._inboxes.append(inbox)
        return inbox

    def follow(self, inbox: Inbox) -> None:
        """An inbox opened (or opened again): assign the partitions every open inbox reads, from their lowest
        positions."""
        readers: dict[TopicPartition, list[Inbox]] = {}
        for each in self._inboxes:
            for tp in each.next:
                readers.setdefault(tp, []).append(each)
        added = readers.keys() - self._readers.keys()
        self._readers = readers
        if added:  # assign() starts every partition afresh: each is sought again, and nothing is paused
            self.consumer.assign(list(readers))
            self._position.clear()
            self._paused.clear()
        self.reposition(list(inbox.next) if not added else list(readers))
        self._room.set()

    def reposition(self, partitions: list[TopicPartition] | tuple[TopicPartition, ...]) -> None:
        """Fetch these partitions from their readers' lowest position, if that is not where the consumer is."""
        for tp in partitions:
            lowest = min(reader.next[tp] for reader in self._readers[tp])
            if self._position.get(tp) != lowest:
                self.consumer.seek(tp, lowest)
                self._position[tp] = lowest
                self._generation[tp] = self._generation.get(tp, 0) + 1

    def made_room(self) -> None:
        self._room.set()

    async def run(self, stop: asyncio.Event) -> None:
        watch = asyncio.create_task(self._watch(stop)) if self._doorbell is not None else None
        try:
            while not stop.is_set():
                self._room.clear()
                self._pause_full()
                if not self._readers or self._paused >= self._readers.keys():
                    await _either(self._room, stop, 0.5)
                    continue
                generations = dict(self._generation)
                batch = await self.consumer.getmany(timeout_ms=500 if self._pacing.idle else 100,
                                                    max_records=self._max_records)
                count = 0
                for tp, records in batch.items():
                    if not records or tp not in self._readers:
                        continue
                    if self._generation.get(tp) != generations.get(tp) and records[0].offset != self._position[tp]:
                        self.consumer.seek(tp, self._position[tp])  # sought while this was on its way: it may
                        continue  # be from before the seek (it comes again from the new position)
                    self._position[tp] = records[-1].offset + 1
                    count += len(records)
                    for reader in self._readers[tp]:
                        reader.hand(tp, records)
                self._pacing.saw(count)
            for inbox in self._inboxes:
                inbox.wake()  # stopped: their runners see the stop flag now, not after their wait
        finally:
            if watch is not None:
                watch.cancel()
                await asyncio.gather(watch, return_exceptions=True)

    def _pause_full(self) -> None:
        """Pause the partitions of a full inbox, resume the ones no full inbox reads."""
        full = {tp for inbox in self._inboxes if inbox.full for tp in inbox.next if tp in self._readers}
        if full != self._paused:
            if full - self._paused:
                self.consumer.pause(*(full - self._paused))
            if self._paused - full:
                self.consumer.resume(*(self._paused - full))
            self._paused = full

    async def _watch(self, stop: asyncio.Event) -> None:
        """Let a held fetch go as soon as the doorbell rings for a topic read here."""
        assert self._doorbell is not None
        while not stop.is_set():
            seen = self._doorbell.snapshot({tp.topic for tp in self._readers})
            if await self._doorbell.wait(seen, timeout_s=1.0):
                self._pacing.wake()


async def _either(event: asyncio.Event, stop: asyncio.Event, timeout_s: float) -> None:
    waits = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
