"""Interface bandwidth: bits/s in and out and utilisation in buckets of 1 min, 5 min or 1 h (min, avg, max, p95),
read from the analytics read models (api/routes/analytics/buckets.py: the coarsest level that answers, the last open
minutes from raw points), and the busiest interfaces. Every rate interval is a point of the interface's series
`device/<id>/if/<ifIndex>/in_bps|out_bps|utilisation`; p95s come from the processor's mergeable sketches."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from psycopg import sql
from psycopg.rows import dict_row

from api.deps import DbConn, SettingsDep
from api.fields import Instant
from api.problems import Problem
from api.routes.analytics.buckets import Bucket, buckets
from api.routes.devices.deps import Consistent
from api.routes.devices.models import BandwidthOut, BandwidthPoint, Stats, TopInterface
from projections.analytics.levels import levels
from schemas.analytics.series import interface_series, series_id
from schemas.envelope import utc_now

router = APIRouter(tags=["bandwidth"])
STEPS = {"1m": 60, "5m": 300, "1h": 3600}
MAX_POINTS = 2000
METRICS = ("in_bps", "out_bps", "utilisation")
RAW_TOP = """
SELECT p.series_id, s.series, count(*) AS samples, avg(p.value) AS mean
FROM metric_points p JOIN metric_series s USING (series_id)
WHERE p.t >= %s AND s.series LIKE %s GROUP BY p.series_id, s.series ORDER BY mean DESC LIMIT %s
"""
ROLLED_TOP = sql.SQL("""
SELECT r.series_id, s.series, sum(r.count) AS samples, sum(r.sum) / sum(r.count) AS mean
FROM {table} r JOIN metric_series s USING (series_id)
WHERE r.t >= %s AND s.series LIKE %s GROUP BY r.series_id, s.series ORDER BY mean DESC LIMIT %s
""")
MEANS = "SELECT series_id, avg(value) FROM metric_points WHERE series_id = ANY(%s) AND t >= %s GROUP BY series_id"
NAMES = """
SELECT d.device_id, d.name AS device_name, i.name FROM devices d
LEFT JOIN device_interfaces i ON i.device_id = d.device_id AND i.if_index = %s
WHERE d.device_id = %s AND NOT d.removed
"""


def stats(bucket: Bucket | None) -> Stats | None:
    if bucket is None:
        return None
    return Stats(min=bucket.min, avg=bucket.mean, max=bucket.max, p95=bucket.p95)


@router.get("/api/devices/{device_id}/interfaces/{if_index}/bandwidth", response_model=BandwidthOut,
            dependencies=[Consistent])
async def bandwidth(device_id: uuid.UUID, if_index: Annotated[int, Path(ge=1, le=2**31 - 1)], conn: DbConn,
                    settings: SettingsDep,
                    from_: Annotated[Instant | None, Query(alias="from", description="default: `to` - 1 h")] = None,
                    to: Annotated[Instant | None, Query(description="default: now")] = None,
                    step: Literal["1m", "5m", "1h"] = "1m") -> BandwidthOut:
    """Rates of one interface in buckets of `step`: bits/s in and out, and utilisation of the busier direction.
    When the range starts before `step`'s level is kept (OPSLEDGER_RETENTION_*), the answer comes from the next
    coarser level that keeps it, and `step_s` says which."""
    end = to or utc_now()
    start = from_ or end - timedelta(hours=1)
    if start.tzinfo is None or end.tzinfo is None:
        raise Problem(400, "from and to must carry a time zone (e.g. 2026-01-01T00:00:00Z).")
    if start >= end:
        raise Problem(400, "from must be before to.")
    step_s = STEPS[step]
    if (end - start).total_seconds() / step_s > MAX_POINTS:
        raise Problem(400, f"That range holds more than {MAX_POINTS} buckets of {step}; use a larger step.")
    found = await (await conn.execute("SELECT 1 FROM devices WHERE device_id = %s AND NOT removed",
                                      (str(device_id),))).fetchone()
    if found is None:
        raise Problem(404, f"No device {device_id}.")
    ids = {m: series_id(interface_series(str(device_id), if_index, m)) for m in METRICS}
    level, by_series = await buckets(conn, levels(settings.retention), list(ids.values()), step_s, start, end,
                                     utc_now())
    inbound, outbound, busier = (by_series[ids[m]] for m in METRICS)
    points = [BandwidthPoint(at=at, samples=inbound[at].samples, in_bps=stats(inbound[at]),  # type: ignore[arg-type]
                             out_bps=stats(outbound[at]), utilisation=stats(busier.get(at)))  # type: ignore[arg-type]
              for at in sorted(inbound) if at in outbound]
    return BandwidthOut(device_id=device_id, if_index=if_index, step_s=level.width_s, points=points)


@router.get("/api/bandwidth/top", response_model=list[TopInterface], dependencies=[Consistent])
async def top(conn: DbConn, settings: SettingsDep,
              by: Literal["utilisation", "in_bps", "out_bps"] = "utilisation",
              window_s: Annotated[int, Query(ge=60, le=7 * 86400, description="averaged over this window")] = 300,
              limit: Annotated[int, Query(ge=1, le=500)] = 10) -> list[TopInterface]:
    """The busiest interfaces over the last `window_s` seconds (average utilisation of the busier direction, or
    average bits/s): from the raw points up to an hour, from hourly rollups beyond."""
    now = utc_now()
    since = now - timedelta(seconds=window_s)
    pattern = f"device/%/if/%/{by}"
    async with conn.cursor(row_factory=dict_row) as cur:
        if window_s <= 3600:
            await cur.execute(RAW_TOP, (since, pattern, limit))
        else:
            table = levels(settings.retention)[-1].table
            await cur.execute(ROLLED_TOP.format(table=sql.Identifier(table)), (since, pattern, limit))
        ranked = await cur.fetchall()
        answer = []
        for row in ranked:
            _, device, _, index, _ = row["series"].split("/")
            others = {m: series_id(interface_series(device, int(index), m)) for m in METRICS}
            await cur.execute(MEANS, (list(others.values()), since))
            means = {r["series_id"]: r["avg"] for r in await cur.fetchall()}
            await cur.execute(NAMES, (int(index), device))
            names = await cur.fetchone()
            if names is None:
                continue  # a removed device
            # the series names the ifIndex: an interface the poller has not listed yet (no row to join) is ranked too
            answer.append(TopInterface(**names, if_index=int(index), samples=row["samples"],
                                       utilisation=means.get(others["utilisation"]),
                                       in_bps=means.get(others["in_bps"]) or 0.0,
                                       out_bps=means.get(others["out_bps"]) or 0.0))
        return answer
