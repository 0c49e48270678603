"""Runs one projection: consume a batch, apply it and store the offsets in the SAME transaction, resume from them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import psycopg
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from psycopg import sql

from infra import kafka_clients
from infra.deadletter import RawSender, send_to_deadletter
from infra.kafka import partitions_of
from projections.records import Record, Tables
from schemas.catalog import REGISTRY
from schemas.registry import EventDecodeError

log = structlog.get_logger(__name__)

LOAD_OFFSETS = "SELECT topic, partition, next_offset FROM projection_offsets WHERE projection = %s"
SAVE_OFFSETS = """
INSERT INTO projection_offsets (projection, topic, partition, next_offset, updated_at)
VALUES (%s, %s, %s, %s, now())
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


class ProjectionRunner:
    def __init__(self, projection: Projection, *, bootstrap: str, database_url: str, deadletters: RawSender,
                 tracking: str | None = None, tables: Tables | None = None, max_records: int = 5000) -> None:
        self.projection = projection
        self.tracking = tracking or projection.name
        self.tables = tables or live_tables(projection)
        self._bootstrap = bootstrap
        self._database_url = database_url
        self._deadletters = deadletters
        self._max_records = max_records
        self.applied = 0
        self.positions: dict[TopicPartition, int] = {}

    async def run(self, stop: asyncio.Event, until: Mapping[TopicPartition, int] | None = None) -> None:
        """Consume until `stop` is set or, when `until` is given, every partition reached its offset."""
        consumer = kafka_clients.consumer(self._bootstrap, enable_auto_commit=False, group_id=None,
            auto_offset_reset="earliest", fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_wait_ms=50,
        )
        await consumer.start()
        try:
            async with await psycopg.AsyncConnection.connect(self._database_url, autocommit=True) as conn:
                await self._assign(consumer, conn)
                while not stop.is_set() and not self._reached(until):
                    batch = await consumer.getmany(timeout_ms=100, max_records=self._max_records)
                    if batch:
                        await self.apply_batch(conn, consumer, batch)
        finally:
            await consumer.stop()

    async def _assign(self, consumer: AIOKafkaConsumer, conn: psycopg.AsyncConnection) -> None:
        stored = await load_offsets(conn, self.tracking)
        partitions = []
        for topic in self.projection.topics:
            for p in await partitions_of(consumer, topic):
                partitions.append(TopicPartition(topic, p))
        consumer.assign(partitions)
        for tp in partitions:
            self.positions[tp] = stored.get(tp, 0)
            consumer.seek(tp, self.positions[tp])
        log.info("projection.assigned", projection=self.tracking, partitions=len(partitions),
                 resumed_from=sum(self.positions.values()))

    async def _apply_or_isolate(self, conn: psycopg.AsyncConnection, records: list[Record]) -> None:
        """Apply the batch; if it fails for a reason other than the database being gone, apply record by record
        and dead-letter the ones that fail, so one poison event cannot stop the projection."""
        try:
            async with conn.transaction():  # a savepoint inside the batch transaction
                await self.projection.apply(conn, records, self.tables)
            return
        except psycopg.OperationalError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure of one record must not stop the stream
            log.warning("projection.batch_failed", projection=self.tracking, records=len(records), error=str(e))
        for record in records:
            try:
                async with conn.transaction():
                    await self.projection.apply(conn, [record], self.tables)
            except psycopg.OperationalError:
                raise
            except Exception as e:  # noqa: BLE001
                await send_to_deadletter(self._deadletters, consumer=f"projection:{self.tracking}",
                                         error=f"could not apply: {type(e).__name__}: {e}", topic=record.topic,
                                         partition=record.partition, offset=record.offset, key=record.key,
                                         value=record.value)

    def _reached(self, until: Mapping[TopicPartition, int] | None) -> bool:
        if until is None:
            return False
        return all(self.positions.get(tp, 0) >= end for tp, end in until.items())

    async def apply_batch(self, conn: psycopg.AsyncConnection, consumer: AIOKafkaConsumer,
                          batch: Mapping[TopicPartition, list[Any]]) -> None:
        started = time.perf_counter()
        records: list[Record] = []
        for tp, messages in batch.items():
            for m in messages:
                event = None
                if self.projection.decode:
                    try:
                        event = REGISTRY.decode(m.value)
                    except EventDecodeError as e:
                        await send_to_deadletter(self._deadletters, consumer=f"projection:{self.tracking}",
                                                 error=str(e), topic=tp.topic, partition=tp.partition,
                                                 offset=m.offset, key=m.key, value=m.value)
                        continue
                records.append(Record(tp.topic, tp.partition, m.offset, m.timestamp, m.key, m.value,
                                      tuple(m.headers or ()), event))
        ends = {tp: messages[-1].offset + 1 for tp, messages in batch.items() if messages}
        async with conn.transaction():
            if self.tracking == self.projection.name:  # the live one; a replay takes the lock only to swap
                await conn.execute(BATCH_LOCK, (lock_key(self.projection.name),))
                stored = await load_offsets(conn, self.tracking)
                moved = {tp: o for tp, o in stored.items() if tp in self.positions and o != self.positions[tp]}
                if moved:  # a replay swapped in new tables and positions: continue from those
                    log.info("projection.positions_moved", projection=self.tracking, partitions=len(moved))
                    for tp, offset in moved.items():
                        self.positions[tp] = offset
                        consumer.seek(tp, offset)
                    return
            await self._apply_or_isolate(conn, records)
            async with conn.cursor() as cur:
                await cur.executemany(SAVE_OFFSETS, [(self.tracking, tp.topic, tp.partition, end)
                                                     for tp, end in ends.items()])
        self.positions.update(ends)
        self.applied += len(records)
        log.debug("projection.batch", projection=self.tracking, records=len(records),
                  ms=round((time.perf_counter() - started) * 1000, 1))
