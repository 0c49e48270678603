"""What one input event's points led to, as events (pure): the points scored, the buckets that closed, anomalies
raised or cleared, capacity forecasts. Each derived event's id comes from the input's id and what it is about, so an
input folded again (redelivered, or read again while catching up after a restart) derives the same ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from processors.analytics.capacity import daily
from processors.analytics.detector_state import Event
from processors.analytics.machine import Capacity, Outcome, Scored
from processors.analytics.rollups import Bucket
from schemas.analytics.events import (
    AnomalyCleared,
    AnomalyDetected,
    CapacityForecastUpdated,
    ForecastPoint,
    MetricPointsScored,
    MetricRollupsClosed,
    RollupBucket,
    ScoredPoint,
)
from schemas.analytics.series import interface_of
from schemas.envelope import Payload


def at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def derived(outcomes: dict[str, Outcome], *, threshold: float, horizon_h: int, submission: uuid.UUID | None = None
            ) -> list[tuple[str, Payload]]:
    """(what the event is about, the event) for every event the outcomes of one input call for, in a fixed order:
    scores, rollups, then per series its anomalies and forecast. The first element names the event in its id.
    `submission`: the input was an ML client's batch (its verdict is then always said, even when every point was
    refused: the client may be waiting for it)."""
    scored = [scored_point(series, s) for series, out in outcomes.items() for s in out.scored]
    buckets = [bucket_of(series, b) for series, out in outcomes.items() for b in out.buckets]
    late = {series: out.late for series, out in outcomes.items() if out.late}
    duplicates = {series: out.duplicates for series, out in outcomes.items() if out.duplicates}
    found: list[tuple[str, Payload]] = []
    if scored:
        found.append(("scored", MetricPointsScored(points=tuple(scored), submission=submission)))
    if buckets or late or duplicates or (submission is not None and not scored):
        found.append(("rollups", MetricRollupsClosed(buckets=tuple(buckets), late=late, duplicates=duplicates,
                                                     submission=submission)))
    for series, out in outcomes.items():
        for event, point in out.events:
            assert point.verdict is not None
            v = point.verdict
            if event is Event.detected:
                found.append((f"{series}@{point.t}", AnomalyDetected(
                    series=series, at=at(point.t), score=v.score, value=point.value, expected=v.expected,
                    lower=v.lower, upper=v.upper, reason=v.reason or "deviation")))
            else:
                found.append((f"{series}@{point.t}", AnomalyCleared(series=series, at=at(point.t), score=v.score,
                                                                   value=point.value)))
        if out.forecast is not None:
            made = capacity_event(series, out.forecast, threshold, horizon_h, None)
            if made is not None:
                found.append((f"{series}@{out.forecast.last_hour}", made))
    return found


def scored_point(series: str, s: Scored) -> ScoredPoint:
    v = s.verdict
    if v is None:
        return ScoredPoint(series=series, t=at(s.t), value=s.value, seen=s.seen, warm=s.warm)
    return ScoredPoint(series=series, t=at(s.t), value=s.value, score=v.score, expected=v.expected, lower=v.lower,
                       upper=v.upper, anomaly=v.anomaly, seen=s.seen, warm=s.warm)


def bucket_of(series: str, b: Bucket) -> RollupBucket:
    return RollupBucket(series=series, width_s=b.width_s, start=at(b.start),  # type: ignore[arg-type]
                        count=b.count, min=b.min, max=b.max, sum=b.sum, p95=b.p95)


def capacity_event(series: str, due: Capacity, threshold: float, horizon_h: int, request_id: str | None
                   ) -> CapacityForecastUpdated | None:
    interface = interface_of(series)
    if interface is None:
        return None
    result = due.result
    points = tuple(ForecastPoint(at=at(ts), value=v, lower=lo, upper=hi) for ts, v, lo, hi in daily(result))
    return CapacityForecastUpdated(
        series=series, device_id=interface[0], if_index=interface[1], at=at(due.last_hour), threshold=threshold,
        horizon_hours=horizon_h, current=due.current, slope_per_day=result.slope_per_day,
        season=result.season,  # type: ignore[arg-type]
        hours_until=result.hours_until, hours_until_pessimistic=result.hours_until_pessimistic,
        history_hours=due.history_hours, points=points, request_id=request_id)
