"""Admin reports over a date range: refill turnaround, days at customers, weekly trend, worker activity, rejected
scans and lost candidates. Days and weeks are those of the time zone `tz` (IANA, UTC by default); `to` is inclusive.
All figures come from the cylinder read models."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from psycopg.rows import dict_row
from pydantic import BaseModel, Field

from api.deps import DbConn
from api.fields import Day, Zone
from api.problems import Problem
from api.routes.cylinders.deps import Consistent

router = APIRouter(prefix="/api/admin", tags=["cylinders"])
MAX_DAYS = 3 * 366
BUCKETS = ((0, 7), (7, 14), (14, 30), (30, 60), (60, 90), (90, None))  # days at a customer
LISTED = 100  # rejected scans and lost candidates listed (newest first); counts cover the whole range

TURNAROUND = """
WITH steps AS (
    SELECT type, at, lead(type) OVER w AS next_type, lead(at) OVER w AS next_at
    FROM cylinder_history WHERE type IN ('CylinderSentToRefill', 'CylinderRefilled')
    WINDOW w AS (PARTITION BY qr_code ORDER BY version))
SELECT count(*) AS count, avg(h) AS avg_hours, percentile_cont(0.5) WITHIN GROUP (ORDER BY h) AS p50_hours,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY h) AS p90_hours, max(h) AS max_hours
FROM (SELECT extract(epoch FROM next_at - at) / 3600 AS h FROM steps
      WHERE type = 'CylinderSentToRefill' AND next_type = 'CylinderRefilled'
        AND next_at >= %(start)s AND next_at < %(end)s) t"""
STAYS = """
SELECT returned_at IS NULL AS open,
       extract(epoch FROM coalesce(returned_at, least(%(end)s, now())) - shipped_at) / 86400 AS days
FROM shipments
WHERE (returned_at >= %(start)s AND returned_at < %(end)s) OR (returned_at IS NULL AND shipped_at < %(end)s)"""
WEEKLY = """
SELECT w.week::date AS week,
       (SELECT count(*) FROM shipments WHERE shipped_at >= w.starts AND shipped_at < w.ends
          AND shipped_at >= %(start)s AND shipped_at < %(end)s) AS shipped,
       (SELECT count(*) FROM shipments WHERE returned_at >= w.starts AND returned_at < w.ends
          AND returned_at >= %(start)s AND returned_at < %(end)s) AS returned
FROM (SELECT local AS week, local AT TIME ZONE %(tz)s AS starts,
             (local + interval '1 week') AT TIME ZONE %(tz)s AS ends  -- local Mondays, so DST weeks are 167 or 169 h
      FROM generate_series(date_trunc('week', %(start)s AT TIME ZONE %(tz)s),
                           (%(end)s - interval '1 us') AT TIME ZONE %(tz)s, interval '1 week') AS g(local)) AS w
ORDER BY w.week"""
WORKERS = """
SELECT s.worker, count(DISTINCT s.client_scan_id) AS scans, count(DISTINCT r.event_id) AS rejected,
       min(s.scanned_at) AS first_scan_at, max(s.scanned_at) AS last_scan_at
FROM cylinder_scans s
LEFT JOIN cylinder_history r ON r.type = 'ScanRejected' AND r.scan_id = s.client_scan_id AND r.worker = s.worker
WHERE s.scanned_at >= %(start)s AND s.scanned_at < %(end)s
GROUP BY s.worker ORDER BY 2 DESC, s.worker  -- a repeated scan id counts once"""
WORKER_ACTIONS = """
SELECT worker, action, count(DISTINCT client_scan_id) FROM cylinder_scans
WHERE scanned_at >= %(start)s AND scanned_at < %(end)s GROUP BY worker, action"""
REJECTED = """
SELECT qr_code, at, worker, scan_id, envelope->'data'->>'action' AS action, envelope->'data'->>'reason' AS reason
FROM cylinder_history WHERE type = 'ScanRejected' AND at >= %(start)s AND at < %(end)s
ORDER BY at DESC, event_id LIMIT %(listed)s"""
REJECTED_COUNTS = """
SELECT envelope->'data'->>'action' AS action, count(*) FROM cylinder_history
WHERE type = 'ScanRejected' AND at >= %(start)s AND at < %(end)s GROUP BY 1 ORDER BY 2 DESC, 1"""
LOST = """
SELECT h.qr_code, h.at, h.envelope->'data'->>'customer' AS customer,
       (h.envelope->'data'->>'days_without_scan')::int AS days_without_scan, c.overdue AS still_overdue,
       count(*) OVER () AS total
FROM cylinder_history h JOIN cylinders c USING (qr_code)
WHERE h.type = 'CylinderOverdue' AND h.at >= %(start)s AND h.at < %(end)s
ORDER BY h.at DESC, h.event_id LIMIT %(listed)s"""


class Turnaround(BaseModel):
    count: int = Field(description="refills completed in the range (sent to refill, then received full)")
    avg_hours: float | None
    p50_hours: float | None
    p90_hours: float | None
    max_hours: float | None


class Bucket(BaseModel):
    from_days: int
    to_days: int | None
    returned: int = Field(description="stays that ended in the range")
    still_out: int = Field(description="cylinders still at the customer at the end of the range")


class DaysAtCustomer(BaseModel):
    returned: int
    still_out: int
    p50_days: float | None = Field(description="of the stays that ended in the range")
    p90_days: float | None
    buckets: list[Bucket]


class Week(BaseModel):
    week: date = Field(description="Monday of the ISO week (in the report's time zone)")
    shipped: int
    returned: int


class WorkerActivity(BaseModel):
    worker: str
    scans: int
    rejected: int
    by_action: dict[str, int]
    first_scan_at: datetime
    last_scan_at: datetime


class RejectedScan(BaseModel):
    qr_code: str
    at: datetime
    worker: str | None
    scan_id: str | None
    action: str | None
    reason: str | None


class Rejections(BaseModel):
    count: int
    by_action: dict[str, int]
    latest: list[RejectedScan]


class LostCandidate(BaseModel):
    qr_code: str
    at: datetime = Field(description="when it was flagged overdue")
    customer: str | None
    days_without_scan: int
    still_overdue: bool


class LostCandidates(BaseModel):
    count: int
    latest: list[LostCandidate]


class Reports(BaseModel):
    start: date = Field(alias="from")
    to: date
    tz: str = Field(description="the time zone of the days and weeks")
    refill_turnaround: Turnaround
    days_at_customer: DaysAtCustomer
    shipments_per_week: list[Week]
    worker_activity: list[WorkerActivity]
    rejected_scans: Rejections
    lost_candidates: LostCandidates


@router.get("/reports", response_model=Reports, response_model_by_alias=True, dependencies=[Consistent])
async def reports(
    conn: DbConn,
    start: Annotated[Day | None, Query(alias="from", description="first day; default 29 days before `to`")] = None,
    to: Annotated[Day | None, Query(description="last day, inclusive; default today (in `tz`)")] = None,
    tz: Annotated[Zone, Query(description="IANA time zone of the days and weeks")] = "UTC",
) -> Reports:
    """Fleet reports over a date range: refills, stays at customers, weekly shipments, workers, rejections, losses."""
    zone = ZoneInfo(tz)
    to = to or datetime.now(zone).date()
    start = start or to - timedelta(days=29)
    if start > to:
        raise Problem(400, "`from` must not be after `to`.")
    if (to - start).days >= MAX_DAYS:
        raise Problem(400, f"A report covers at most {MAX_DAYS} days.")
    window = {"start": datetime.combine(start, time(), zone), "tz": tz, "listed": LISTED,
              "end": datetime.combine(to + timedelta(days=1), time(), zone)}
    async with conn.cursor(row_factory=dict_row) as cur:
        turnaround = Turnaround(**await one(cur, TURNAROUND, window))
        stays = await all_rows(cur, STAYS, window)
        weeks = [Week(**r) for r in await all_rows(cur, WEEKLY, window)]
        actions: dict[str, dict[str, int]] = {}
        for r in await all_rows(cur, WORKER_ACTIONS, window):
            actions.setdefault(r["worker"], {})[r["action"]] = r["count"]
        workers = [WorkerActivity(worker=r["worker"], scans=r["scans"], rejected=r["rejected"],
                                  by_action=actions.get(r["worker"], {}), first_scan_at=r["first_scan_at"],
                                  last_scan_at=r["last_scan_at"]) for r in await all_rows(cur, WORKERS, window)]
        by_action = {r["action"]: r["count"] for r in await all_rows(cur, REJECTED_COUNTS, window)}
        rejected = Rejections(count=sum(by_action.values()), by_action=by_action,
                              latest=[RejectedScan(**r) for r in await all_rows(cur, REJECTED, window)])
        lost_rows = await all_rows(cur, LOST, window)
    lost = LostCandidates(count=lost_rows[0]["total"] if lost_rows else 0,
                          latest=[LostCandidate(**{k: v for k, v in r.items() if k != "total"}) for r in lost_rows])
    return Reports.model_validate({
        "from": start, "to": to, "tz": tz, "refill_turnaround": turnaround, "days_at_customer": days_at_customer(stays),
        "shipments_per_week": weeks, "worker_activity": workers, "rejected_scans": rejected, "lost_candidates": lost})


def days_at_customer(stays: list[dict[str, Any]]) -> DaysAtCustomer:
    ended = sorted(float(s["days"]) for s in stays if not s["open"])
    buckets = [Bucket(from_days=lo, to_days=hi,
                      returned=sum(1 for s in stays if not s["open"] and in_bucket(float(s["days"]), lo, hi)),
                      still_out=sum(1 for s in stays if s["open"] and in_bucket(float(s["days"]), lo, hi)))
               for lo, hi in BUCKETS]
    return DaysAtCustomer(returned=len(ended), still_out=sum(1 for s in stays if s["open"]),
                          p50_days=percentile(ended, 0.5), p90_days=percentile(ended, 0.9), buckets=buckets)


def in_bucket(days: float, lo: int, hi: int | None) -> bool:
    return days >= lo and (hi is None or days < hi)


def percentile(ordered: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (what PostgreSQL's percentile_cont does)."""
    if not ordered:
        return None
    rank = q * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


async def one(cur: Any, query: str, params: dict[str, object]) -> dict[str, Any]:
    await cur.execute(query, params)
    row: dict[str, Any] = await cur.fetchone()
    return {k: (float(v) if v is not None and k != "count" else v) for k, v in row.items()}


async def all_rows(cur: Any, query: str, params: dict[str, object]) -> list[dict[str, Any]]:
    await cur.execute(query, params)
    return list(await cur.fetchall())
