"""Reading series in buckets from the coarsest level that answers: the rollup level of the asked width while it still
keeps the range's start, else the next coarser one that does; buckets not closed yet (the last minutes, still inside
the processor's grace) are computed from the raw points. Shared by the bandwidth, capacity and ML routes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

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


@dataclass(frozen=True)
class Bucket:
    at: datetime
    count: int
    min: float
    max: float
    sum: float
    p95: float

    @property
    def mean(self) -> float:
        return self.sum / self.count


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
    rows = await (await conn.execute(ROLLED.format(table=sql.Identifier(level.table)),
                                     (list(ids), start, end))).fetchall()
    for series, at, *figures in rows:
        found[series][at] = Bucket(at, *figures)
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
