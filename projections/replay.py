"""Rebuild a projection from the start of its topics into fresh tables beside the live ones, then swap.

The fresh tables load with only their primary and unique indexes (the fold's ON CONFLICT needs them); the others are
built once at the end, and every index gets its live name back at the swap.

A projection whose fold is partition-local (`partition_local = True`: every record it folds together shares a Kafka
key, so a partition number holds all of them in each of its topics) rebuilds in several processes at once, each
reading a share of the partition numbers into the same fresh tables; the rebuild is CPU-bound in Python, so that is
how it uses more than one core.

The live projection keeps serving while the rebuild runs. The swap takes the live projection's batch lock,
brings the rebuild up to (at least) the live positions, renames the tables and hands the rebuild's
positions to the live projection, all in one transaction; the live runner notices and continues from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import psycopg
import structlog
from aiokafka import TopicPartition
from psycopg import sql

from infra.kafka import end_offsets
from projections.partitions import create_like, rename_partitions
from projections.runner import BATCH_LOCK, Projection, ProjectionRunner, load_offsets, lock_key, save_offsets

log = structlog.get_logger(__name__)
REBUILD_SUFFIX = "__rebuild"
PARALLEL_FROM = 50_000  # records: below, a worker's start-up (~1 s of importing the platform) costs more than it saves


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


INDEXES = ("SELECT i.relname, pg_get_indexdef(i.oid), x.indisunique OR c.oid IS NOT NULL"
           " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
           " LEFT JOIN pg_constraint c ON c.conindid = i.oid"
           " WHERE t.relname = %s AND t.relnamespace = 'public'::regnamespace")
CONSTRAINT_OF = ("SELECT c.conname FROM pg_constraint c JOIN pg_class i ON i.oid = c.conindid"
                 " WHERE i.relname = %s AND i.relnamespace = 'public'::regnamespace")


async def indexes_of(conn: psycopg.AsyncConnection, table: str) -> list[tuple[str, str, bool]]:
    """(name, definition, unique or backing a constraint) of each index of `table`."""
    return [(name, definition, unique) for name, definition, unique in
            await (await conn.execute(INDEXES, (table,))).fetchall()]


def shape(definition: str, name: str, table: str) -> str:
    """An index definition with its own name and table's name left out: the same index on another table."""
    return definition.replace(f" INDEX {name} ON ", " INDEX ? ON ", 1).replace(f"public.{table} ", "public.? ", 1)


async def prepare_tables(conn: psycopg.AsyncConnection, projection: Projection) -> None:
    """Fresh tables shaped like the live ones, with only the indexes the fold needs while it loads (primary keys
    and unique ones: ON CONFLICT stands on them); the others are built once, before the swap (finish_tables)."""
    for table in projection.tables:
        fresh = table + REBUILD_SUFFIX
        await conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(fresh)))
        await create_like(conn, table, fresh)  # partitioned like the live table, when it is
        for name, _, unique in await indexes_of(conn, fresh):
            if not unique:
                await conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    await conn.execute("DELETE FROM projection_offsets WHERE projection = %s", (tracking_name(projection),))


async def finish_tables(conn: psycopg.AsyncConnection, projection: Projection) -> None:
    """Build on each fresh table the indexes the live one has and it does not (outside the swap's lock)."""
    for table in projection.tables:
        fresh = table + REBUILD_SUFFIX
        have = {shape(d, n, fresh) for n, d, _ in await indexes_of(conn, fresh)}
        for name, definition, _ in await indexes_of(conn, table):
            if shape(definition, name, table) not in have:
                await conn.execute(shape(definition, name, table).replace(" INDEX ? ON ", f' INDEX "{name}'
                                   f'{REBUILD_SUFFIX}" ON ', 1).replace("public.? ", f'public."{fresh}" ', 1))


async def rename_indexes(conn: psycopg.AsyncConnection, table: str, live: list[tuple[str, str, bool]]) -> None:
    """After the swap: give the new table's indexes (and the constraints they back) the live ones' names."""
    names = {shape(d, n, table): n for n, d, _ in live}
    for name, definition, _ in await indexes_of(conn, table):
        wanted = names.get(shape(definition, name, table))
        if wanted is None or wanted == name:
            continue
        constraint = await (await conn.execute(CONSTRAINT_OF, (name,))).fetchone()
        if constraint is not None:
            await conn.execute(sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                sql.Identifier(table), sql.Identifier(constraint[0]), sql.Identifier(wanted)))
        else:
            await conn.execute(sql.SQL("ALTER INDEX {} RENAME TO {}").format(sql.Identifier(name),
                                                                             sql.Identifier(wanted)))


def rebuild_runner(projection: Projection, bootstrap: str, database_url: str,
                   partitions: frozenset[int] | None = None) -> ProjectionRunner:
    tables = {t: sql.Identifier(t + REBUILD_SUFFIX) for t in projection.tables}
    return ProjectionRunner(projection, bootstrap=bootstrap, database_url=database_url, deadletters=DropDeadLetters(),
                            tracking=tracking_name(projection), tables=tables, max_records=20_000, fetch_wait_ms=20,
                            partitions=partitions)


def shares_of(projection: Projection, ends: Mapping[TopicPartition, int], workers: int) -> list[frozenset[int]]:
    """The partition numbers each worker rebuilds: one share of all unless the fold is partition-local and every
    topic has the same partitions (then a key's records are under one number in every topic)."""
    numbers = {tp.partition for tp in ends}
    per_topic = {topic: {tp.partition for tp in ends if tp.topic == topic} for topic in projection.topics}
    if workers < 2 or not getattr(projection, "partition_local", False) or any(
            found != numbers for found in per_topic.values()):
        return [frozenset(numbers)]
    ordered = sorted(numbers)
    return [frozenset(ordered[i::workers]) for i in range(min(workers, len(ordered)))]


def replay_share(projection: Projection, bootstrap: str, database_url: str, share: frozenset[int],
                 until: dict[TopicPartition, int]) -> int:
    """A worker process: rebuild `share`'s partitions up to `until`; the records it applied."""
    runner = rebuild_runner(projection, bootstrap, database_url, share)
    asyncio.run(runner.run(asyncio.Event(), until=until))
    return runner.applied


def start_workers(count: int, setup: Callable[[], None] | None = None) -> ProcessPoolExecutor:
    """`count` worker processes forked now, with everything this process has imported: a spawned worker first
    imports the platform (~1.3 s of CPU), a forked one starts its share at once. Call it before this process starts
    a thread or an event loop (`opsledger replay` does, first thing): forking a threaded process can deadlock."""
    pool = ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("fork"), initializer=setup)
    pool.submit(os.getpid)  # the first job forks every worker, before the pool's own thread starts
    return pool


async def replay(projection: Projection, *, bootstrap: str, database_url: str,
                 on_progress: Callable[[int, int], None] = lambda done, total: None, workers: int | None = 1,
                 worker_setup: Callable[[], None] | None = None,
                 pool: ProcessPoolExecutor | None = None) -> ReplayResult:
    """Rebuild and swap. `workers` > 1 rebuilds a partition-local projection in that many processes (each first
    runs `worker_setup`: logging, the collector), the extra ones from `pool` when given (start_workers), else
    spawned; None: every core once the log is long enough to pay for their start-up (PARALLEL_FROM records), else
    one."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await prepare_tables(conn, projection)
    runner = rebuild_runner(projection, bootstrap, database_url)
    ends = await end_offsets(bootstrap, projection.topics)
    total = sum(ends.values())
    if workers is None:
        workers = (os.cpu_count() or 1) if total >= PARALLEL_FROM else 1
    shares = shares_of(projection, ends, workers)
    stop = asyncio.Event()
    progress = asyncio.create_task(_report(runner, total, on_progress, stop, database_url, len(shares) > 1))
    try:
        if len(shares) == 1:
            await runner.run(stop, until=ends)
        else:
            runner.applied = await _in_processes(projection, shares, ends, bootstrap, database_url, worker_setup,
                                                 pool)
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            await finish_tables(conn, projection)
            runner.positions = await load_offsets(conn, tracking_name(projection))  # the workers' too
        await swap(projection, runner, bootstrap=bootstrap, database_url=database_url)
    finally:
        stop.set()
        await progress
    on_progress(runner.applied, max(total, runner.applied))
    return ReplayResult(runner.applied, loop.time() - started)


async def _in_processes(projection: Projection, shares: list[frozenset[int]], ends: Mapping[TopicPartition, int],
                        bootstrap: str, database_url: str, setup: Callable[[], None] | None,
                        forked: ProcessPoolExecutor | None) -> int:
    """The first share in this process (it has the platform imported already), the others in the forked workers
    when there are some (start_workers), else in spawned ones (a spawned worker's import overlaps this process's
    share and then delays its own)."""
    def until(share: frozenset[int]) -> dict[TopicPartition, int]:
        return {tp: end for tp, end in ends.items() if tp.partition in share}

    loop = asyncio.get_running_loop()
    own = rebuild_runner(projection, bootstrap, database_url, shares[0])
    with contextlib.nullcontext(forked) if forked is not None else ProcessPoolExecutor(
            len(shares) - 1, mp_context=multiprocessing.get_context("spawn"), initializer=setup) as pool:
        jobs = [loop.run_in_executor(pool, replay_share, projection, bootstrap, database_url, share, until(share))
                for share in shares[1:]]
        await own.run(asyncio.Event(), until=until(shares[0]))
        return own.applied + sum(await asyncio.gather(*jobs))


async def _report(runner: ProjectionRunner, total: int, on_progress: Callable[[int, int], None],
                  stop: asyncio.Event, database_url: str, stored: bool) -> None:
    """Progress: the runner's positions, or, while worker processes rebuild, the positions they stored."""
    conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True) if stored else None
    try:
        while not stop.is_set():
            positions = runner.positions if conn is None else await load_offsets(conn, tracking_name(runner.projection))
            on_progress(sum(positions.values()), total)
            await asyncio.sleep(0.2 if conn is None else 0.5)
    finally:
        if conn is not None:
            await conn.close()


async def swap(projection: Projection, runner: ProjectionRunner, *, bootstrap: str, database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        async with conn.transaction():
            await conn.execute(BATCH_LOCK, (lock_key(projection.name),))  # the live projection pauses here
            live = await load_offsets(conn, projection.name)
            behind = {tp: o for tp, o in live.items() if runner.positions.get(tp, 0) < o}
            if behind:
                await runner.run(asyncio.Event(), until=behind)
            for table in projection.tables:
                live_indexes = await indexes_of(conn, table)
                old, fresh = sql.Identifier(table + "__old"), sql.Identifier(table + REBUILD_SUFFIX)
                await conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(sql.Identifier(table), old))
                await conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(fresh, sql.Identifier(table)))
                await conn.execute(sql.SQL("DROP TABLE {}").format(old))
                await rename_indexes(conn, table, live_indexes)
                await rename_partitions(conn, table, table + REBUILD_SUFFIX)
            positions: dict[TopicPartition, int] = {**live, **runner.positions}
            await save_offsets(conn, projection.name, positions)
            await conn.execute("DELETE FROM projection_offsets WHERE projection = %s", (tracking_name(projection),))
    log.info("replay.swapped", projection=projection.name, events=runner.applied)
