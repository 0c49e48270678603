"""Runs one projection: consume a batch, apply it and store the offsets in the SAME transaction, resume from them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
import structlog
from aiokafka import TopicPartition
from psycopg import sql

from infra.deadletter import RawSender, send_to_deadletter
from projections.records import Record, Tables
from projections.sources import Fanout, OwnConsumer, Source
from schemas.catalog import REGISTRY
from schemas.registry import EventDecodeError

log = structlog.get_logger(__name__)

LOAD_OFFSETS = "SELECT topic, partition, next_offset FROM projection_offsets WHERE projection = %s"
SAVE_OFFSETS = """
INSERT INTO projection_offsets (projection, topic, partition, next_offset, updated_at)
SELECT %s, topic, partition, next_offset, now()
FROM unnest(%s::text[], %s::integer[], %s::bigint[]) AS saved (topic, partition, next_offset)
ON CONFLICT (projection, topic, partition) DO UPDATE
SET next_offset = EXCLUDED.next_offset, updated_at = now()
"""
BATCH_LOCK = "SELECT pg_advisory_xact_lock(hashtext(%s))"


class Projection(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def topics(self) -> tuple[str, ...]: ...
    @property
    def tables(self) -> tuple[str, ...]: ...
    @property
    def decode(self) -> bool: ...  # False: records are passed as they are (the archive keeps even malformed bytes)

    async def apply(self, conn: psycopg.AsyncConnection, records: Sequence[Record], tables: Tables) -> None: ...


def live_tables(projection: Projection) -> Tables:
    return {t: sql.Identifier(t) for t in projection.tables}


def lock_key(projection_name: str) -> str:
    return f"projection:{projection_name}"


async def load_offsets(conn: psycopg.AsyncConnection, tracking: str) -> dict[TopicPartition, int]:
    rows = await (await conn.execute(LOAD_OFFSETS, (tracking,))).fetchall()
    return {TopicPartition(t, p): o for t, p, o in rows}


async def save_offsets(conn: psycopg.AsyncConnection, tracking: str, ends: Mapping[TopicPartition, int]) -> None:
    """Store where each partition goes on next, in one statement (a row per partition sent as three arrays)."""
    if ends:
        await conn.execute(SAVE_OFFSETS, (tracking, [tp.topic for tp in ends], [tp.partition for tp in ends],
                                          list(ends.values())))


class ProjectionRunner:
    def __init__(self, projection: Projection, *, bootstrap: str, database_url: str, deadletters: RawSender,
                 tracking: str | None = None, tables: Tables | None = None, max_records: int = 5000,
                 fetch_wait_ms: int = 50, idle_fetch_wait_ms: int = 0, fanout: Fanout | None = None,
                 partitions: frozenset[int] | None = None) -> None:
        self.projection = projection
        self.tracking = tracking or projection.name
        self.tables = tables or live_tables(projection)
        self._bootstrap = bootstrap
        self._database_url = database_url
        self._deadletters = deadletters
        self._max_records = max_records
        self._fetch_wait_ms = fetch_wait_ms  # Tansu holds a fetch this long even when data comes: see ARCHITECTURE
        self._idle_fetch_wait_ms = idle_fetch_wait_ms  # and this long once its topics have been quiet (FetchPacing)
        self._fanout = fanout  # the process's one fetching consumer; None: a consumer of its own
        self._partitions = partitions  # the partition numbers this runner reads (a parallel replay's share); None: all
        self.applied = 0
        self.positions: dict[TopicPartition, int] = {}

    async def run(self, stop: asyncio.Event, until: Mapping[TopicPartition, int] | None = None) -> None:
        """Consume until `stop` is set or, when `until` is given, every partition reached its offset. The next batch
        is fetched and decoded while PostgreSQL applies the current one (the two run on different cores)."""
        source: Source = (self._fanout.inbox() if self._fanout is not None else
                          await OwnConsumer(self._bootstrap, self._fetch_wait_ms, self._idle_fetch_wait_ms).start())
        ahead: asyncio.Task[Fetched | None] | None = None
        try:
            async with await psycopg.AsyncConnection.connect(self._database_url, autocommit=True) as conn:
                # The batch and its offsets commit together: a crash loses both or neither, and the batch is
                # applied again from the stored offsets. So a projection need not wait for the WAL flush.
                await conn.execute("SET synchronous_commit = off")
                await self._assign(source, conn)
                while not stop.is_set() and not self._reached(until):
                    fetched = await (ahead or self._fetch(source))
                    ahead = None
                    if fetched is None:
                        continue
                    ahead = asyncio.create_task(self._fetch(source))
                    if not await self.apply_batch(conn, source, fetched):
                        await _discard(ahead)  # positions moved under it: what it fetched is from before
                        ahead = None
        finally:
            await _discard(ahead)
            await source.stop()

    async def _fetch(self, source: Source) -> Fetched | None:
        batch = await source.getmany(self._max_records)
        if not batch:
            return None
        fetched = Fetched({tp: messages[-1].offset + 1 for tp, messages in batch.items() if messages})
        for tp, messages in batch.items():
            for m in messages:
                event = None
                if self.projection.decode:
                    try:
                        event = REGISTRY.decode(m.value)
                    except EventDecodeError as e:
                        fetched.undecodable.append((tp, m, str(e)))
                        continue
                fetched.records.append(Record(tp.topic, tp.partition, m.offset, m.timestamp, m.key, m.value,
                                              tuple(m.headers or ()), event))
        return fetched

    async def _assign(self, source: Source, conn: psycopg.AsyncConnection) -> None:
        stored = await load_offsets(conn, self.tracking)
        for topic in self.projection.topics:
            for p in await source.partitions(topic):
                if self._partitions is None or p in self._partitions:
                    tp = TopicPartition(topic, p)
                    self.positions[tp] = stored.get(tp, 0)
        source.open(self.positions)
        log.info("projection.assigned", projection=self.tracking, partitions=len(self.positions),
                 resumed_from=sum(self.positions.values()))

    async def _isolate(self, conn: psycopg.AsyncConnection, records: list[Record]) -> None:
        """Apply record by record, each in a savepoint, and dead-letter the ones that fail, so one poison event
        cannot stop the projection."""
        for record in records:
            try:
                async with conn.transaction():  # a savepoint inside the batch transaction
                    await self.projection.apply(conn, [record], self.tables)
            except psycopg.OperationalError:
                raise
            except Exception as e:  # noqa: BLE001 - any failure of one record must not stop the stream
                await send_to_deadletter(self._deadletters, consumer=f"projection:{self.tracking}",
                                         error=f"could not apply: {type(e).__name__}: {e}", topic=record.topic,
                                         partition=record.partition, offset=record.offset, key=record.key,
                                         value=record.value)

    def _reached(self, until: Mapping[TopicPartition, int] | None) -> bool:
        if until is None:
            return False
        return all(self.positions.get(tp, 0) >= end for tp, end in until.items())

    async def apply_batch(self, conn: psycopg.AsyncConnection, source: Source, fetched: Fetched) -> bool:
        """Apply one fetched batch and store its offsets in the same transaction; False (nothing applied) when a
        replay moved this projection's positions meanwhile. Round trips: the transaction's start (with the batch
        lock and the stored offsets), the projection's own statements, and the offsets with the commit. A batch
        that fails for a reason other than the database being gone is rolled back and applied again record by
        record (`_isolate`)."""
        started = time.perf_counter()
        for tp, message, error in fetched.undecodable:
            await send_to_deadletter(self._deadletters, consumer=f"projection:{self.tracking}", error=error,
                                     topic=tp.topic, partition=tp.partition, offset=message.offset, key=message.key,
                                     value=message.value)
        try:
            if not await self._begin(conn, source):
                return False
            try:
                await self.projection.apply(conn, fetched.records, self.tables)
            except psycopg.OperationalError:
                raise
            except Exception as e:  # noqa: BLE001 - any failure of one record must not stop the stream
                log.warning("projection.batch_failed", projection=self.tracking, records=len(fetched.records),
                            error=str(e))
                await conn.execute("ROLLBACK")
                if not await self._begin(conn, source):
                    return False
                await self._isolate(conn, fetched.records)
            async with conn.pipeline():
                await save_offsets(conn, self.tracking, fetched.ends)
                await conn.execute("COMMIT")
        except BaseException:
            await _rollback(conn)
            raise
        self.positions.update(fetched.ends)
        self.applied += len(fetched.records)
        log.debug("projection.batch", projection=self.tracking, records=len(fetched.records),
                  ms=round((time.perf_counter() - started) * 1000, 1))
        return True

    async def _begin(self, conn: psycopg.AsyncConnection, source: Source) -> bool:
        """Open the batch's transaction. The live projection also takes the batch lock and reads its stored offsets
        in the same round trip: False (rolled back) when a replay swapped in new tables and positions meanwhile."""
        if self.tracking != self.projection.name:  # a replay takes the lock only to swap
            await conn.execute("BEGIN")
            return True
        async with conn.pipeline():
            await conn.execute("BEGIN")
            await conn.execute(BATCH_LOCK, (lock_key(self.projection.name),))
            loaded = await conn.execute(LOAD_OFFSETS, (self.tracking,))
        stored = {TopicPartition(t, p): o for t, p, o in await loaded.fetchall()}
        moved = {tp: o for tp, o in stored.items() if tp in self.positions and o != self.positions[tp]}
        if not moved:
            return True
        await conn.execute("ROLLBACK")
        log.info("projection.positions_moved", projection=self.tracking, partitions=len(moved))
        # every partition, moved or not: this batch and the one fetched ahead are dropped, and the source is
        # already past both (a record of a partition the replay left alone was lost)
        for tp, offset in self.positions.items():
            self.positions[tp] = moved.get(tp, offset)
            source.seek(tp, self.positions[tp])
        return False


@dataclass
class Fetched:
    """One fetched batch: where each partition ends, the records (decoded where the projection wants events), and
    the ones that did not decode (dead-lettered when the batch is applied)."""

    ends: dict[TopicPartition, int]
    records: list[Record] = field(default_factory=list)
    undecodable: list[tuple[TopicPartition, Any, str]] = field(default_factory=list)


async def _rollback(conn: psycopg.AsyncConnection) -> None:
    """End a batch's transaction that did not commit, if the connection still can (else closing it ends it)."""
    if conn.closed or conn.broken or conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        return
    try:
        await conn.execute("ROLLBACK")
    except psycopg.Error:
        pass


async def _discard(task: asyncio.Task[Any] | None) -> None:
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
