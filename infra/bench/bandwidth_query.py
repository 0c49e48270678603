"""`opsledger bench bandwidth-query`: how long reading one interface's 1-minute bandwidth over its whole stored range
takes while many interfaces are stored (issue 12 §4: 30 days of 1-minute bandwidth among 10,000 interfaces, ≤ 50 ms).

A database of its own, migrated; `metric_rollups_1m` is filled in PostgreSQL itself (generate_series, a day per
partition as the projection cuts it, every minute's rows for all interfaces together, as the projection writes them:
so one series' rows are spread over the partition, not packed) for `interfaces` interfaces × the four series each
(in, out, utilisation, errors) × `days` days, then vacuumed (what autovacuum does to a day once it is past), and
left on disk (`--root DIR` measures it again without refilling). Measured: the API's own read
(api/routes/analytics/buckets.py `buckets`, the query and its rows into Python) for the three bandwidth series of one
interface over the whole range — warm (repeated) and cold (PostgreSQL restarted, and the OS page cache dropped where
the machine allows) — and PostgreSQL's own execution time (EXPLAIN ANALYZE, with the pages it read). Storage is
priced per interface per day as stored.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg import sql

from api.routes.analytics.buckets import ROLLED, buckets
from infra.bench.harness import percentile
from infra.entry.embedded import start_database
from infra.settings import RetentionSettings
from projections.analytics.levels import levels
from projections.migrate import migrate
from projections.partitions import DAY_S, Layout, ensure
from schemas.analytics.series import interface_series, series_id

METRICS = ("in_bps", "out_bps", "utilisation", "errors_per_s")
BANDWIDTH = METRICS[:3]  # what GET /api/devices/{id}/interfaces/{i}/bandwidth reads
FILL = """
INSERT INTO metric_rollups_1m (series_id, t, count, min, max, sum, p95)
SELECT s, t, 1, v, v, v, v
FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 minute', interval '1 minute') AS t,
     unnest(%(ids)s::bigint[]) AS s,
     LATERAL (SELECT (abs(s) %% 997 + 1) * 1e6 * (1.2 + sin(extract(epoch FROM t) / 13751.0))) AS x(v)
"""
SIZE = "SELECT coalesce(sum(pg_total_relation_size(relid)), 0) FROM pg_partition_tree('metric_rollups_1m'::regclass)"


def interface_ids(count: int) -> list[tuple[str, int]]:
    return [(f"bench-sw-{i // 48:05d}", i % 48 + 1) for i in range(count)]


async def fill(url: str, interfaces: int, days: int, end: datetime) -> float:
    ids = [series_id(interface_series(device, index, m)) for device, index in interface_ids(interfaces)
           for m in METRICS]
    started = time.perf_counter()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("SET synchronous_commit = off")
        start = end - timedelta(days=days)
        await ensure(conn, "metric_rollups_1m", Layout(DAY_S), [start + timedelta(days=d) for d in range(days)])
        for hour in range(days * 24):
            at = start + timedelta(hours=hour)
            await conn.execute(FILL, {"start": at, "end": at + timedelta(hours=1), "ids": ids})
        await conn.execute("VACUUM (ANALYZE) metric_rollups_1m")
    return time.perf_counter() - started


async def reads(url: str, ids: list[int], start: datetime, end: datetime, repeats: int
                ) -> tuple[list[float], int]:
    """The API's read of the range (the level chosen as for a 1-minute step) `repeats` times on one connection, as
    a pooled connection of the API would: each timed from the call to its rows in Python."""
    times, rows = [], 0
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for _ in range(repeats):
            started = time.perf_counter()
            level, found = await buckets(conn, levels(RetentionSettings()), ids, 60, start, end, end)
            times.append(time.perf_counter() - started)
            assert level.table == "metric_rollups_1m", level
            rows = sum(len(b) for b in found.values())
    return times, rows


async def explain(url: str, ids: list[int], start: datetime, end: datetime) -> dict[str, Any]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        query = ROLLED.format(table=sql.Identifier("metric_rollups_1m")).as_string(conn)
        row = await (await conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {query}",  # noqa: S608
                                        (ids, start, end))).fetchone()
    assert row is not None
    plan = row[0][0]
    top = plan["Plan"]
    nodes = {n.get("Node Type") for n in _nodes(top)}
    return {"execution_ms": round(plan["Execution Time"], 2), "planning_ms": round(plan["Planning Time"], 2),
            "rows": top.get("Actual Rows"), "shared_hit_pages": top.get("Shared Hit Blocks"),
            "read_pages": top.get("Shared Read Blocks"),
            "heap_fetches": sum(n.get("Heap Fetches", 0) for n in _nodes(top)),
            "node_types": sorted(t for t in nodes if t)}


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for child in node.get("Plans", []) for n in _nodes(child))]


def drop_os_cache() -> bool:
    """Drop the OS page cache (needs root on the host; False where the machine does not allow it)."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def run_bandwidth_query_bench(interfaces: int = 1000, days: int = 30, repeats: int = 30,
                              root: Path | None = None) -> dict[str, Any]:
    root = root or Path(tempfile.mkdtemp(prefix="opsledger-bench-query-"))
    marker = root / "filled.json"  # a run's database, kept on disk: a later run with --root reads it again
    filled = orjson.loads(marker.read_bytes()) if marker.exists() else None
    if filled is not None and (filled["interfaces"], filled["days"]) != (interfaces, days):
        raise ValueError(f"{root} holds {filled['interfaces']} interfaces x {filled['days']} days")
    end = datetime.fromisoformat(filled["end"]) if filled else datetime.now(UTC).replace(
        hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    device, index = interface_ids(interfaces)[interfaces // 2]
    ids = [series_id(interface_series(device, index, m)) for m in BANDWIDTH]
    database = start_database(root / "pg")
    try:
        if filled:
            fill_s = filled["fill_and_vacuum_s"]
        else:
            migrate(database.url)
            fill_s = asyncio.run(fill(database.url, interfaces, days, end))
            marker.write_bytes(orjson.dumps({"interfaces": interfaces, "days": days, "end": end.isoformat(),
                                             "fill_and_vacuum_s": fill_s}))
        with psycopg.connect(database.url) as conn:
            row = conn.execute(SIZE).fetchone()
            stored = int(row[0]) if row else 0
            settings: dict[str, str] = dict(conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN ('shared_buffers', 'effective_cache_size')"
            ).fetchall())
    finally:
        database.stop()
    database = start_database(root / "pg")  # cold: nothing of the table in PostgreSQL's buffers
    try:
        dropped = drop_os_cache()
        (cold_s, *warm), rows = asyncio.run(reads(database.url, ids, start, end, repeats + 1))
        plan = asyncio.run(explain(database.url, ids, start, end))
    finally:
        database.stop()
    return {
        "root": str(root),
        "interfaces": interfaces,
        "days": days,
        "rows_stored": interfaces * len(METRICS) * days * 1440,
        "fill_and_vacuum_s": round(fill_s, 1),
        "bytes_stored": stored,
        "bytes_per_interface_per_day": round(stored / interfaces / days),
        "rows_read": rows,
        "read_cold_ms": round(cold_s * 1000, 1),
        "os_cache_dropped": dropped,
        "read_warm_ms": {"p50": round(percentile(warm, 50) * 1000, 1), "p99": round(percentile(warm, 99) * 1000, 1)},
        "postgres_warm": plan,
        "postgres_settings": settings,
    }
