"""Restoring an in-memory broker from the Postgres archive, and saving what the archive does not hold.

Tansu keeps its log in memory. At start, every archived record is produced again to the same topic and
partition in the same order (so offsets come out the same), consumer-group positions saved at the last
stop are committed again, and projections that were ahead of the archive (a broker crash) are clamped
back so nothing produced after the restore is skipped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import orjson
import psycopg
import structlog
from aiokafka import TopicPartition

from infra import kafka_clients
from infra.kafka import partitions_of

log = structlog.get_logger(__name__)

ARCHIVE_SCAN = """
SELECT topic, partition, "offset", timestamp_ms, key, coalesce(value, convert_to(envelope::text, 'UTF8')), headers
FROM event_archive
ORDER BY topic, partition, "offset"
"""
ARCHIVE_ENDS = 'SELECT topic, partition, max("offset") + 1 FROM event_archive GROUP BY topic, partition'
CLAMP = "UPDATE projection_offsets SET next_offset = %s WHERE topic = %s AND partition = %s AND next_offset > %s"
CLAMP_EMPTY = "UPDATE projection_offsets SET next_offset = 0 WHERE NOT (topic, partition) IN " \
              "(SELECT DISTINCT topic, partition FROM event_archive)"
SAVE_GROUP = """
INSERT INTO broker_group_offsets (group_id, topic, partition, committed, saved_at) VALUES (%s, %s, %s, %s, now())
ON CONFLICT (group_id, topic, partition) DO UPDATE SET committed = EXCLUDED.committed, saved_at = now()
"""
LOAD_GROUPS = "SELECT group_id, topic, partition, committed FROM broker_group_offsets"


async def restore_broker(bootstrap: str, database_url: str) -> int:
    """Produce the archive back into an empty broker; returns how many records were restored."""
    started = time.perf_counter()
    producer = kafka_clients.producer(bootstrap, acks="all", linger_ms=5,
                                max_batch_size=512 * 1024, max_request_size=16 * 1024 * 1024)
    await producer.start()
    restored = 0
    try:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            async with conn.cursor(name="archive_scan") as cur:
                await cur.execute(ARCHIVE_SCAN)
                pending = []
                async for topic, partition, offset, ts, key, value, headers in cur:
                    hdrs = [(k, v.encode()) for k, v in orjson.loads(headers).items()] if headers else None
                    pending.append((offset, await producer.send(
                        topic, value, key=key, partition=partition, timestamp_ms=ts, headers=hdrs)))
                    if len(pending) >= 5000:
                        restored += await _check(pending)
                restored += await _check(pending)
    finally:
        await producer.stop()
    log.info("broker.restored", records=restored, seconds=round(time.perf_counter() - started, 2))
    return restored


async def _check(pending: list[tuple[int, Any]]) -> int:
    """Wait for a run of sends and verify each landed at its archived offset."""
    results = await asyncio.gather(*(f for _, f in pending))
    for (wanted, _), meta in zip(pending, results, strict=True):
        if meta.offset != wanted:
            log.warning("broker.restore_offset_moved", topic=meta.topic, partition=meta.partition,
                        archived=wanted, now=meta.offset)
    count = len(pending)
    pending.clear()
    return count


async def clamp_projections(database_url: str) -> None:
    """A projection ahead of the archive (the broker died before archiving) restarts where the log now ends."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        ends = await (await conn.execute(ARCHIVE_ENDS)).fetchall()
        async with conn.cursor() as cur:
            await cur.executemany(CLAMP, [(end, t, p, end) for t, p, end in ends])
            await cur.execute(CLAMP_EMPTY)


async def committed_offsets(bootstrap: str, group_id: str, topics: Iterable[str]) -> dict[TopicPartition, int]:
    """Where a consumer group (the Faust app) stands on these topics."""
    consumer = kafka_clients.consumer(bootstrap, group_id=group_id, enable_auto_commit=False)
    await consumer.start()
    try:
        found = {}
        for topic in topics:
            for p in await partitions_of(consumer, topic):
                committed = await consumer.committed(TopicPartition(topic, p))
                if committed is not None and committed >= 0:
                    found[TopicPartition(topic, p)] = committed
        return found
    finally:
        await consumer.stop()


async def save_group_offsets(database_url: str, group_id: str, offsets: dict[TopicPartition, int]) -> None:
    """Remember where a consumer group stands, for the next restore."""
    if offsets:
        async with await psycopg.AsyncConnection.connect(database_url) as conn, conn.cursor() as cur:
            await cur.executemany(SAVE_GROUP, [(group_id, tp.topic, tp.partition, offset)
                                               for tp, offset in offsets.items()])


async def restore_group_offsets(bootstrap: str, database_url: str) -> int:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        rows = await (await conn.execute(LOAD_GROUPS)).fetchall()
    groups: dict[str, dict[TopicPartition, int]] = {}
    for group_id, topic, partition, committed in rows:
        groups.setdefault(group_id, {})[TopicPartition(topic, partition)] = committed
    for group_id, offsets in groups.items():
        consumer = kafka_clients.consumer(bootstrap, group_id=group_id, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign(list(offsets))
            await consumer.commit(offsets)
        finally:
            await consumer.stop()
    return len(rows)
