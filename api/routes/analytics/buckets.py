"""Reading series in buckets from the coarsest level that answers: the rollup level of the asked width while it still
keeps the range's start, else the next coarser one that does; buckets not closed yet (the last minutes, still inside
the processor's grace) are computed from the raw points. Shared by the bandwidth, capacity and ML routes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

import psycopg
from psycopg import sql

from projections.analytics.levels import Level

ROLLED = sql.SQL("SELECT series_id, t, count, min, max, sum, p95 FROM {table}"
                 " WHERE series_id = ANY(%s) AND t >= %s AND t < %s ORDER BY series_id, t")
FROM_RAW = """
SELECT series_id, date_bin(make_interval(secs => %(width)s), t, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       count(*), min(value), max(value), sum(value), percentile_cont(0.95) WITHIN GROUP (ORDER BY value)
FROM metric_points
WHERE series_id = ANY(%(ids)s) AND t >= %(start)s AND t < %(end)s
GROUP BY series_id, bucket ORDER BY series_id, bucket
"""


class Bucket(NamedTuple):  # a tuple: 30 days of 1-minute buckets are 43,200 of them per series
    at: datetime
    samples: int  # the rollup's count (a tuple has a count() of its own)
    min: float
    max: float
    sum: float
    p95: float

    @property
    def mean(self) -> float:
        return self.sum / self.samples


def choose(levels: Sequence[Level], width_s: int, start: datetime, now: datetime) -> Level:
    """The rollup level of `width_s` if it keeps `start`, else the finest coarser level that does (else the
    coarsest)."""
    rollups = [level for level in levels if level.width_s]
    usable = [level for level in rollups if level.width_s >= width_s and level.holds(start, now)]
    return usable[0] if usable else rollups[-1]


async def buckets(conn: psycopg.AsyncConnection, levels: Sequence[Level], ids: Sequence[int], width_s: int,
                  start: datetime, end: datetime, now: datetime) -> tuple[Level, dict[int, dict[datetime, Bucket]]]:
    """Per series, its buckets in [start, end) at the level chosen for `width_s`, and that level."""
    level = choose(levels, width_s, start, now)
    found: dict[int, dict[datetime, Bucket]] = {i: {} for i in ids}
    async with conn.cursor(binary=True) as cur:  # binary: half the time of reading the rows as text
        await cur.execute(ROLLED.format(table=sql.Identifier(level.table)), (list(ids), start, end))
        rows = await cur.fetchall()
    for series, at, samples, low, high, total, p95 in rows:
        found[series][at] = Bucket(at, samples, low, high, total, p95)
    closed_until = max((max(b) + timedelta(seconds=level.width_s) for b in found.values() if b), default=start)
    raw = next(lv for lv in levels if not lv.width_s)
    # the part not closed yet comes from the raw points, as far back as they are kept (a range reaching back past
    # them, with no bucket closed yet, still shows its recent part)
    tail_start = max(start, closed_until, raw.horizon(now) or start)
    if tail_start < end:
        query = {"width": level.width_s, "ids": list(ids), "start": tail_start, "end": end}
        for series, at, *figures in await (await conn.execute(FROM_RAW, query)).fetchall():
            found[series].setdefault(at, Bucket(at, *figures))
    return level, found
