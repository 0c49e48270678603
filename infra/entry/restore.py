"""Restoring an in-memory broker from the Postgres archive, and saving what the archive does not hold.

Tansu keeps its log in memory. At start, every archived record is produced again to the same topic and
partition in the same order (so offsets come out the same), consumer-group positions saved at the last
stop are committed again, and projections that were ahead of the archive (a broker crash) are clamped
back so nothing produced after the restore is skipped.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import structlog
from aiokafka import TopicPartition

from infra import kafka_clients
from infra.kafka import partitions_of
from projections.archive_files import exported_files, records, sidecar, verified

log = structlog.get_logger(__name__)

ARCHIVE_SCAN = """
SELECT topic, partition, "offset", timestamp_ms, key, coalesce(value, convert_to(envelope::text, 'UTF8')), headers
FROM event_archive
ORDER BY topic, partition, "offset"
"""
ARCHIVE_ENDS = 'SELECT topic, partition, max("offset") + 1 FROM event_archive GROUP BY topic, partition'
CLAMP = "UPDATE projection_offsets SET next_offset = %s WHERE topic = %s AND partition = %s AND next_offset > %s"
CLAMP_ABSENT = "UPDATE projection_offsets SET next_offset = 0 WHERE topic || ':' || partition <> ALL(%s::text[])"
SAVE_GROUP = """
INSERT INTO broker_group_offsets (group_id, topic, partition, committed, saved_at) VALUES (%s, %s, %s, %s, now())
ON CONFLICT (group_id, topic, partition) DO UPDATE SET committed = EXCLUDED.committed, saved_at = now()
"""
LOAD_GROUPS = "SELECT group_id, topic, partition, committed FROM broker_group_offsets"


async def restore_broker(bootstrap: str, database_url: str, archive_dir: Path | None = None) -> int:
    """Produce the archive back into an empty broker — the table and the partitions exported to `archive_dir` by
    retention, merged in offset order — and return how many records were restored."""
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
                async for topic, partition, offset, ts, key, value, headers in merged(cur, archive_dir):
                    hdrs = [(k, v.encode()) for k, v in headers.items()] if headers else None
                    pending.append((offset, await producer.send(
                        topic, value, key=key, partition=partition, timestamp_ms=ts, headers=hdrs)))
                    if len(pending) >= 5000:
                        restored += await _check(pending)
                restored += await _check(pending)
    finally:
        await producer.stop()
    log.info("broker.restored", records=restored, seconds=round(time.perf_counter() - started, 2))
    return restored


Row = tuple[str, int, int, int, bytes | None, bytes | None, dict[str, str] | None]


async def merged(table: AsyncIterator[tuple[Any, ...]], archive_dir: Path | None) -> AsyncIterator[Row]:
    """The table's records and the exported files' (each in topic, partition, offset order) as one ordered stream;
    a record in both (a partition restored for analysts) once. A file whose checksum fails is left out, loudly."""
    heap: list[tuple[tuple[str, int, int], int, Row, Iterator[Any]]] = []
    for index, path in enumerate(exported_files(archive_dir) if archive_dir else []):
        try:
            verified(path)
        except (ValueError, OSError) as e:
            log.error("broker.restore_file_skipped", file=str(path), error=str(e))
            continue
        _push(heap, index, iter(records(path)))
    head = await anext(table, None)
    last: tuple[str, int, int] | None = None
    while heap or head is not None:
        if head is not None and (not heap or tuple(head[:3]) <= heap[0][0]):
            row: Row = (*head[:6], orjson.loads(head[6]) if isinstance(head[6], str | bytes) else head[6])
            head = await anext(table, None)
        else:
            _, index, row, rest = heapq.heappop(heap)
            _push(heap, index, rest)
        if row[:3] != last:
            last = row[:3]
            yield row


def _push(heap: list[Any], index: int, rest: Iterator[Any]) -> None:
    found = next(rest, None)
    if found is not None:
        topic, partition, offset, ts, key, value, headers, _ = found
        row = (topic, partition, offset, ts, key, value, orjson.loads(headers) if headers else None)
        heapq.heappush(heap, ((topic, partition, offset), index, row, rest))


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


async def clamp_projections(database_url: str, archive_dir: Path | None = None) -> None:
    """A projection ahead of the archive (the broker died before archiving) restarts where the log now ends (the
    table's, or for a partition whose records were all exported, the files')."""
    ends: dict[tuple[str, int], int] = {}
    for path in exported_files(archive_dir) if archive_dir else []:
        for where, end in orjson.loads(sidecar(path).read_bytes())["ends"].items():
            topic, partition = where.rsplit(":", 1)
            ends[topic, int(partition)] = max(end, ends.get((topic, int(partition)), 0))
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        for topic, partition, end in await (await conn.execute(ARCHIVE_ENDS)).fetchall():
            ends[topic, partition] = max(end, ends.get((topic, partition), 0))
        async with conn.cursor() as cur:
            await cur.executemany(CLAMP, [(end, t, p, end) for (t, p), end in ends.items()])
            await cur.execute(CLAMP_ABSENT, ([f"{t}:{p}" for t, p in ends],))


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
