"""Capacity planning, pure: an interface's utilisation series keeps its hourly means (from its own closed hourly
rollups) for four weeks, and once a day of its own time it is forecast (schemas/analytics/forecast.py: robust trend
plus season, 95 % interval) to say when it reaches the saturation threshold."""

from __future__ import annotations

from collections.abc import Sequence

from schemas.analytics.forecast import Forecast, forecast

HOUR_S = 3600
HOURLY_KEPT_S = 28 * 24 * HOUR_S
MIN_HISTORY_HOURS = 24  # less than a day cannot separate a trend from the daily cycle
EVERY_S = 24 * HOUR_S


def due(hourly: Sequence[Sequence[float]], forecast_at: float | None) -> bool:
    """A forecast is due once a day of the series' own time, after its first day of hourly means."""
    if len(hourly) < MIN_HISTORY_HOURS:
        return False
    return forecast_at is None or hourly[-1][0] - forecast_at >= EVERY_S


def forecast_of(hourly: Sequence[Sequence[float]], threshold: float, horizon_h: int) -> Forecast:
    points = [(float(t), float(mean)) for t, mean in hourly]
    return forecast(points, horizon_h, threshold=threshold, bounds=(0.0, 1.0))


def daily(result: Forecast) -> list[tuple[float, float, float, float]]:
    """One forecast point a day (ts, value, lower, upper): what an event carries and a chart draws."""
    return [(p.ts, p.value, p.lower, p.upper) for i, p in enumerate(result.points, start=1) if i % 24 == 0]
