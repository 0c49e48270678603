"""Rebuild a projection from the start of its topics into fresh tables beside the live ones, then swap.

The live projection keeps serving while the rebuild runs. The swap takes the live projection's batch lock,
brings the rebuild up to (at least) the live positions, renames the tables and hands the rebuild's
positions to the live projection, all in one transaction; the live runner notices and continues from there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import structlog
from aiokafka import TopicPartition
from psycopg import sql

from infra.kafka import end_offsets
from projections.partitions import create_like, rename_partitions
from projections.runner import BATCH_LOCK, Projection, ProjectionRunner, load_offsets, lock_key

log = structlog.get_logger(__name__)
REBUILD_SUFFIX = "__rebuild"
SAVE_OFFSET = ("INSERT INTO projection_offsets (projection, topic, partition, next_offset) VALUES (%s, %s, %s, %s)"
               " ON CONFLICT (projection, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset,"
               " updated_at = now()")


class DropDeadLetters:
    """The live projection already dead-lettered every malformed record; a rebuild must not do it twice."""

    async def send_raw(self, *args: object, **kwargs: object) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


@dataclass
class ReplayResult:
    events: int
    seconds: float


def tracking_name(projection: Projection) -> str:
    return f"replay:{projection.name}"


async def prepare_tables(conn: psycopg.AsyncConnection, projection: Projection) -> None:
    for table in projection.tables:
        fresh = sql.Identifier(table + REBUILD_SUFFIX)
        await conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(fresh))
        await create_like(conn, table, table + REBUILD_SUFFIX)  # partitioned like the live table, when it is
    await conn.execute("DELETE FROM projection_offsets WHERE projection = %s", (tracking_name(projection),))


async def replay(projection: Projection, *, bootstrap: str, database_url: str,
                 on_progress: Callable[[int, int], None] = lambda done, total: None) -> ReplayResult:
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await prepare_tables(conn, projection)
    tables = {t: sql.Identifier(t + REBUILD_SUFFIX) for t in projection.tables}
    runner = ProjectionRunner(projection, bootstrap=bootstrap, database_url=database_url,
                              deadletters=DropDeadLetters(), tracking=tracking_name(projection), tables=tables,
                              max_records=20_000)
    ends = await end_offsets(bootstrap, projection.topics)
    total = sum(ends.values())
    stop = asyncio.Event()
    progress = asyncio.create_task(_report(runner, total, on_progress, stop))
    try:
        await runner.run(stop, until=ends)
        await swap(projection, runner, bootstrap=bootstrap, database_url=database_url)
    finally:
        stop.set()
        await progress
    on_progress(runner.applied, max(total, runner.applied))
    return ReplayResult(runner.applied, loop.time() - started)


async def _report(runner: ProjectionRunner, total: int, on_progress: Callable[[int, int], None],
                  stop: asyncio.Event) -> None:
    while not stop.is_set():
        on_progress(sum(runner.positions.values()), total)
        await asyncio.sleep(0.2)


async def swap(projection: Projection, runner: ProjectionRunner, *, bootstrap: str, database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        async with conn.transaction():
            await conn.execute(BATCH_LOCK, (lock_key(projection.name),))  # the live projection pauses here
            live = await load_offsets(conn, projection.name)
            behind = {tp: o for tp, o in live.items() if runner.positions.get(tp, 0) < o}
            if behind:
                await runner.run(asyncio.Event(), until=behind)
            for table in projection.tables:
                old, fresh = sql.Identifier(table + "__old"), sql.Identifier(table + REBUILD_SUFFIX)
                await conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(sql.Identifier(table), old))
                await conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(fresh, sql.Identifier(table)))
                await conn.execute(sql.SQL("DROP TABLE {}").format(old))
                await rename_partitions(conn, table, table + REBUILD_SUFFIX)
            positions: dict[TopicPartition, int] = {**live, **runner.positions}
            async with conn.cursor() as cur:
                await cur.executemany(SAVE_OFFSET, [(projection.name, tp.topic, tp.partition, o)
                                                    for tp, o in positions.items()])
            await conn.execute("DELETE FROM projection_offsets WHERE projection = %s", (tracking_name(projection),))
    log.info("replay.swapped", projection=projection.name, events=runner.applied)
