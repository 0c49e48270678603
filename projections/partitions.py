"""Time-partitioned read models (declarative range partitioning): partitions are made when rows need them, listed
with their bounds, dropped whole when their time has passed (never a row-by-row DELETE), and renamed with their table
when a replay swaps a rebuilt table in.

A partition of `t` covering [start, start + span) is named `t_pYYYYMMDD` (its start's UTC date). A table is
partitioned on a timestamptz column, or on a bigint of milliseconds (the event archive's record timestamps).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

DAY_S = 86_400
MONDAY_S = 4 * DAY_S  # 1970-01-05 was a Monday: week-long partitions start on Mondays
LIST = """
SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = %s::regclass
"""
BOUND = re.compile(r"FROM \((?:MINVALUE|'([^']*)')\) TO \((?:MAXVALUE|'([^']*)')\)")


@dataclass(frozen=True)
class Layout:
    """How a table is cut: `span_s` seconds per partition, starting at multiples of it plus `origin_s`; `millis`
    when the partition key is a bigint of milliseconds rather than a timestamptz."""

    span_s: int
    origin_s: int = 0
    millis: bool = False

    def start_of(self, at: datetime) -> datetime:
        seconds = int(at.timestamp())
        start = (seconds - self.origin_s) // self.span_s * self.span_s + self.origin_s
        return datetime.fromtimestamp(start, UTC)

    def bound(self, at: datetime) -> int | datetime:
        return int(at.timestamp() * 1000) if self.millis else at


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime | None  # None: unbounded below (MINVALUE)
    end: datetime | None


def name_of(identifier: sql.Identifier) -> str:
    """The plain name of a table identifier (the live table's, or a replay's rebuild): projections are handed
    identifiers, partitions are named after the table."""
    return identifier.as_string().strip('"').replace('""', '"')


def partition_name(table: str, start: datetime) -> str:
    return f"{table}_p{start:%Y%m%d}"


MISSING = "SELECT n FROM unnest(%s::text[]) AS n WHERE to_regclass(quote_ident(n)) IS NULL"


async def ensure(conn: psycopg.AsyncConnection, table: str, layout: Layout, times: Iterable[datetime]) -> None:
    """Make the partitions these times fall in that do not exist yet (one catalogue look-up when they all do: a
    CREATE, even IF NOT EXISTS, waits for every reader of the table)."""
    starts = {partition_name(table, s): s for s in {layout.start_of(t) for t in times}}
    if not starts:
        return
    missing = [row[0] for row in await (await conn.execute(MISSING, (list(starts),))).fetchall()]
    for start in sorted(starts[name] for name in missing):
        end = start + timedelta(seconds=layout.span_s)
        await conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
            sql.Identifier(partition_name(table, start)), sql.Identifier(table),
            sql.Literal(layout.bound(start)), sql.Literal(layout.bound(end))))


async def partitions(conn: psycopg.AsyncConnection, table: str, layout: Layout) -> list[Partition]:
    """The table's partitions with their bounds, oldest first."""
    async with conn.transaction():
        await conn.execute("SET LOCAL timezone = 'UTC'")
        rows = await (await conn.execute(LIST, (table,))).fetchall()
    found = []
    for name, bound in rows:
        match = BOUND.search(bound or "")
        if match is None:
            continue  # a DEFAULT partition: never dropped by time
        found.append(Partition(name, _parse(match.group(1), layout), _parse(match.group(2), layout)))
    return sorted(found, key=lambda p: p.start or datetime.min.replace(tzinfo=UTC))


def _parse(text: str | None, layout: Layout) -> datetime | None:
    if text is None:
        return None
    if layout.millis:
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    return datetime.fromisoformat(text)


def expired(found: Iterable[Partition], horizon: datetime) -> list[Partition]:
    """Partitions whose every row is older than `horizon`."""
    return [p for p in found if p.end is not None and p.end <= horizon]


async def drop(conn: psycopg.AsyncConnection, partition: Partition) -> None:
    await conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(partition.name)))


async def is_partitioned(conn: psycopg.AsyncConnection, table: str) -> bool:
    row = await (await conn.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = %s::regclass",
                                    (table,))).fetchone()
    return row is not None


async def create_like(conn: psycopg.AsyncConnection, live: str, fresh: str) -> None:
    """A fresh empty table shaped like `live` (partitioned the same way when it is)."""
    row = await (await conn.execute("SELECT pg_get_partkeydef(%s::regclass)", (live,))).fetchone()
    key = row[0] if row else None
    query = "CREATE TABLE {} (LIKE {} INCLUDING ALL)" + (f" PARTITION BY {key}" if key else "")
    await conn.execute(sql.SQL(query).format(sql.Identifier(fresh), sql.Identifier(live)))


async def rename_partitions(conn: psycopg.AsyncConnection, table: str, old_prefix: str) -> None:
    """After a swap: the partitions of `table` still named after `old_prefix` take `table`'s name."""
    for name, _ in await (await conn.execute(LIST, (table,))).fetchall():
        if name.startswith(f"{old_prefix}_p"):
            renamed = table + name[len(old_prefix):]
            await conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(sql.Identifier(name),
                                                                             sql.Identifier(renamed)))
