"""Interface bandwidth: rollups of the computed rates (min, avg, max, p95 per 1 min, 5 min or 1 h bucket) and the
busiest interfaces. Rollups are computed from interface_rates at read time (date_bin + percentile_cont): a p95 cannot
be rolled up from smaller buckets' p95s, and one interface's hour of 1-minute rates is a small, indexed range."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from psycopg.rows import dict_row

from api.deps import DbConn
from api.fields import Instant
from api.problems import Problem
from api.routes.devices.deps import Consistent
from api.routes.devices.models import BandwidthOut, BandwidthPoint, Stats, TopInterface
from schemas.envelope import utc_now

router = APIRouter(tags=["bandwidth"])
STEPS = {"1m": 60, "5m": 300, "1h": 3600}
MAX_POINTS = 2000
BUSIER = "GREATEST(in_utilisation, out_utilisation)"
ROLLUP = f"""
SELECT date_bin(make_interval(secs => %(step)s), at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       count(*) AS samples,
       min(in_bps) AS in_min, avg(in_bps) AS in_avg, max(in_bps) AS in_max,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY in_bps) AS in_p95,
       min(out_bps) AS out_min, avg(out_bps) AS out_avg, max(out_bps) AS out_max,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY out_bps) AS out_p95,
       min({BUSIER}) AS u_min, avg({BUSIER}) AS u_avg, max({BUSIER}) AS u_max,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY {BUSIER}) AS u_p95
FROM interface_rates
WHERE device_id = %(device)s AND if_index = %(if_index)s AND at >= %(start)s AND at < %(end)s
GROUP BY bucket ORDER BY bucket
"""
ORDER = {"utilisation": "utilisation", "in_bps": "in_bps", "out_bps": "out_bps"}
TOP = """
SELECT r.device_id, d.name AS device_name, r.if_index, i.name, count(*) AS samples,
       avg(GREATEST(r.in_utilisation, r.out_utilisation)) AS utilisation, avg(r.in_bps) AS in_bps,
       avg(r.out_bps) AS out_bps
FROM interface_rates r
JOIN devices d ON d.device_id = r.device_id AND NOT d.removed
LEFT JOIN device_interfaces i ON i.device_id = r.device_id AND i.if_index = r.if_index
WHERE r.at >= %s
GROUP BY r.device_id, d.name, r.if_index, i.name
ORDER BY {order} DESC NULLS LAST, r.device_id, r.if_index
LIMIT %s
"""


def stats(row: dict[str, float | None], prefix: str) -> Stats | None:
    values = [row[f"{prefix}_{name}"] for name in ("min", "avg", "max", "p95")]
    if any(value is None for value in values):
        return None
    low, mean, high, p95 = (float(v) for v in values if v is not None)
    return Stats(min=low, avg=mean, max=high, p95=p95)


@router.get("/api/devices/{device_id}/interfaces/{if_index}/bandwidth", response_model=BandwidthOut,
            dependencies=[Consistent])
async def bandwidth(device_id: uuid.UUID, if_index: Annotated[int, Path(ge=1, le=2**31 - 1)], conn: DbConn,
                    from_: Annotated[Instant | None, Query(alias="from", description="default: `to` - 1 h")] = None,
                    to: Annotated[Instant | None, Query(description="default: now")] = None,
                    step: Literal["1m", "5m", "1h"] = "1m") -> BandwidthOut:
    """Rates of one interface in buckets of `step`: bits/s in and out, and utilisation of the busier direction."""
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
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(ROLLUP, {"step": step_s, "device": str(device_id), "if_index": if_index, "start": start,
                                   "end": end})
        rows = await cur.fetchall()
    points = []
    for row in rows:
        inbound, outbound = stats(row, "in"), stats(row, "out")
        assert inbound is not None and outbound is not None  # bits/s are never NULL
        points.append(BandwidthPoint(at=row["bucket"], samples=row["samples"], in_bps=inbound, out_bps=outbound,
                                     utilisation=stats(row, "u")))
    return BandwidthOut(device_id=device_id, if_index=if_index, step_s=step_s, points=points)


@router.get("/api/bandwidth/top", response_model=list[TopInterface], dependencies=[Consistent])
async def top(conn: DbConn, by: Literal["utilisation", "in_bps", "out_bps"] = "utilisation",
              window_s: Annotated[int, Query(ge=60, le=7 * 86400, description="averaged over this window")] = 300,
              limit: Annotated[int, Query(ge=1, le=500)] = 10) -> list[TopInterface]:
    """The busiest interfaces over the last `window_s` seconds (average utilisation of the busier direction, or
    average bits/s)."""
    since = utc_now() - timedelta(seconds=window_s)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(TOP.format(order=ORDER[by]), (since, limit))
        return [TopInterface(**r) for r in await cur.fetchall()]
