"""Retention against the real read models: `apply` drops whole partitions of a level past its time (never rows of
a partition it keeps, never another level's), and a read of that range at the dropped level's width is answered
from the next coarser level that keeps it (the choice every bucket endpoint makes, api/routes/analytics/buckets.py).

Runs after test_analytics_replay.py (file order): dropping rollups the live projection's own policy still keeps
would make a rebuild differ from the live tables."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from api.routes.analytics.buckets import buckets
from infra.settings import RetentionSettings
from projections.analytics.levels import levels
from projections.partitions import partitions
from projections.retention import apply
from schemas.analytics.series import series_id
from tests.helpers.series import history, send
from tests.helpers.support import Stack, wait_until

POLICY = RetentionSettings(raw_hours=48, minute_days=2, five_minute_days=90, hour_days=730, archive_days=0)
ROLLUPS = ("metric_rollups_1m", "metric_rollups_5m", "metric_rollups_1h")


def counts(database_url: str, sid: int) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        found = {}
        for table in ROLLUPS:
            row = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE series_id = %s").format(sql.Identifier(table)),
                               (sid,)).fetchone()
            found[table] = row[0] if row else 0
        return found


def settled_counts(database_url: str, sid: int) -> dict[str, int]:
    """The rollup rows once they stop growing: scores are projected first, the closed buckets (another topic) after."""
    seen: list[dict[str, int]] = []

    def steady() -> dict[str, int] | None:
        seen.append(counts(database_url, sid))
        return seen[-1] if len(seen) > 1 and seen[-1] == seen[-2] and all(seen[-1].values()) else None

    return wait_until(steady, timeout=90, interval=1.5, what="the rollups to be projected")


async def minute_partitions(database_url: str) -> dict[str, datetime | None]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        minute = next(level for level in levels(POLICY) if level.name == "1m")
        return {p.name: p.start for p in await partitions(conn, minute.table, minute.layout)}


async def read(database_url: str, sid: int, width_s: int, start: datetime, end: datetime, now: datetime
               ) -> tuple[str, list[datetime]]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        level, found = await buckets(conn, levels(POLICY), [sid], width_s, start, end, now)
    return level.name, sorted(found[sid])


def test_retention_drops_whole_partitions_and_reads_fall_back_to_a_coarser_level(stack: Stack, api: httpx.Client,
                                                                              tmp_path: Path) -> None:
    url = stack.backbone.database_url
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    series = f"ml/test/retention-{uuid.uuid4().hex[:8]}"
    send(api, series, history(end))
    sid = series_id(series)
    before, partitions_before = settled_counts(url, sid), asyncio.run(minute_partitions(url))
    assert all(before.values()), before

    now = datetime.now(UTC)
    done = asyncio.run(apply(url, POLICY, tmp_path, now))

    horizon = now - timedelta(days=2, hours=1)  # the level's time and the drop margin
    dropped = {item.partition.name for item in done if item.table == "metric_rollups_1m"}
    old = {name for name, start in partitions_before.items() if start is not None and start + timedelta(days=1)
           <= horizon}
    assert old and dropped >= old  # every day partition wholly past the horizon went
    assert {item.table for item in done} <= {"metric_rollups_1m", "metric_points"}
    after, partitions_after = counts(url, sid), asyncio.run(minute_partitions(url))
    assert not set(partitions_after) & dropped
    assert after["metric_rollups_5m"] == before["metric_rollups_5m"]
    assert after["metric_rollups_1h"] == before["metric_rollups_1h"]
    assert 0 < after["metric_rollups_1m"] < before["metric_rollups_1m"]  # the days it keeps, kept whole
    with psycopg.connect(url) as conn:
        oldest = conn.execute("SELECT min(t) FROM metric_rollups_1m WHERE series_id = %s", (sid,)).fetchone()
    assert oldest is not None and oldest[0] >= horizon - timedelta(days=1)

    start = end - timedelta(days=8)
    level, found = asyncio.run(read(url, sid, 60, start, end, now))
    assert level == "5m" and found[0] < start + timedelta(hours=1) and len(found) > 7 * 288
    level, found = asyncio.run(read(url, sid, 60, end - timedelta(hours=6), end, now))
    assert level == "1m" and found  # a range the level still keeps is read at its own width
