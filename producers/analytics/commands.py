"""Analytics command handlers: a batch of points for a series, a request for capacity forecasts now (no I/O here)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from schemas.analytics.events import CapacityForecastRequested, MetricPoint, MetricPointsSubmitted
from schemas.catalog import REGISTRY
from schemas.envelope import Envelope, new_event_id, utc_now

SOURCE = "api.analytics"


def in_order(points: Iterable[tuple[datetime, float]]) -> tuple[MetricPoint, ...]:
    """Sorted by time; of points at the same time, the first given stands (the sort is stable)."""
    ordered: list[MetricPoint] = []
    for t, value in sorted(points, key=lambda p: p[0]):
        if not ordered or ordered[-1].t != t:
            ordered.append(MetricPoint(t=t, value=value))
    return tuple(ordered)


def submit_points(series: str, points: Iterable[tuple[datetime, float]], *, actor: str | None,
                  correlation_id: str | None) -> Envelope:
    """One event per batch, keyed by the series, so a series' batches stay in order on one partition."""
    data = MetricPointsSubmitted(series=series, points=in_order(points))
    return REGISTRY.event(data, source=SOURCE, subject=series, actor=actor, correlation_id=correlation_id)


def request_capacity(device_id: str | None, *, actor: str, correlation_id: str | None) -> Envelope:
    request_id = str(new_event_id())
    data = CapacityForecastRequested(request_id=request_id, device_id=device_id, at=utc_now(), by=actor)
    return REGISTRY.event(data, source=SOURCE, subject=request_id, actor=actor, correlation_id=correlation_id)
