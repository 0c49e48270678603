"""Capacity forecast from hourly rollups: a robust linear trend plus a seasonal profile, with a prediction interval.

Pure Python (a few thousand hourly points at most: weeks to months of history), no numpy. The fit alternates a
weighted least-squares line and per-slot seasonal means, reweighting by Huber's rule (IRLS), so an outage or a
spike in the history does not tilt the trend. The season is the hour of the week when two weeks are available,
else the hour of the day when two days are, else none. The interval is the least-squares prediction interval
(widening with the distance from the data's centre) around the trend plus season, from a robust (MAD) residual
scale; hourly residuals are autocorrelated, so it is if anything optimistic far out (see REPORT.md).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

HOUR = 3600
DAY = 24 * HOUR
WEEK = 7 * DAY
WEEK_EPOCH_OFFSET = 4 * DAY  # 1970-01-05 was a Monday
Z95 = 1.959964
HUBER_K = 1.345
ITERATIONS = 5


@dataclass(frozen=True)
class ForecastPoint:
    ts: float
    value: float
    lower: float
    upper: float


@dataclass(frozen=True)
class Forecast:
    points: list[ForecastPoint]
    slope_per_day: float
    sigma: float
    season: str  # "week", "day" or "none"
    hours_until: float | None  # until the point forecast first reaches the threshold, within the horizon
    hours_until_pessimistic: float | None  # until the upper bound does: the earliest it plausibly could


@dataclass(frozen=True)
class _Fit:
    intercept: float
    slope: float  # per second
    seasonal: list[float]
    slot_counts: list[float]  # points behind each seasonal value: its own estimation error widens the interval
    slot_s: int
    t_mean: float  # the line's pivot (weighted)
    t_centre: float  # the data's centre and spread, for the interval
    sxx: float
    sigma: float
    n: int

    def slot(self, ts: float) -> int:
        if not self.seasonal:
            return 0
        return int(((ts - WEEK_EPOCH_OFFSET) % (self.slot_s * len(self.seasonal))) // self.slot_s)

    def at(self, ts: float) -> tuple[float, float]:
        """Point forecast and the half-width of its 95 % prediction interval."""
        k = self.slot(ts)
        mean = self.intercept + self.slope * (ts - self.t_mean) + (self.seasonal[k] if self.seasonal else 0.0)
        season_var = 1 / max(self.slot_counts[k], 1.0) if self.seasonal else 0.0
        spread = self.sigma * math.sqrt(1 + 1 / self.n + season_var + (ts - self.t_centre) ** 2 / self.sxx)
        return mean, Z95 * spread


def _weighted_line(ts: Sequence[float], ys: Sequence[float], ws: Sequence[float]) -> tuple[float, float, float, float]:
    sw = math.fsum(ws)
    t_mean = math.fsum(w * t for w, t in zip(ws, ts, strict=True)) / sw
    y_mean = math.fsum(w * y for w, y in zip(ws, ys, strict=True)) / sw
    sxx = math.fsum(w * (t - t_mean) ** 2 for w, t in zip(ws, ts, strict=True))
    sxy = math.fsum(w * (t - t_mean) * (y - y_mean) for w, t, y in zip(ws, ts, ys, strict=True))
    slope = sxy / sxx if sxx > 0 else 0.0
    return y_mean, slope, t_mean, sxx


def fit(points: Sequence[tuple[float, float]]) -> _Fit:
    ts = [float(t) for t, _ in points]
    ys = [float(y) for _, y in points]
    if len(ts) < 3:
        raise ValueError("a forecast needs at least three points")
    span = ts[-1] - ts[0]
    n_slots, slot_s = (168, HOUR) if span >= 2 * WEEK else (24, HOUR) if span >= 2 * DAY else (0, HOUR)
    slots = [int(((t - WEEK_EPOCH_OFFSET) % (n_slots * slot_s)) // slot_s) for t in ts] if n_slots else []
    weights = [1.0] * len(ts)
    seasonal = [0.0] * n_slots
    totals = [0.0] * n_slots
    sigma = 0.0
    for _ in range(ITERATIONS):
        adjusted = [y - seasonal[s] for y, s in zip(ys, slots, strict=True)] if n_slots else ys
        level, slope, t_mean, sxx = _weighted_line(ts, adjusted, weights)
        detrended = [y - level - slope * (t - t_mean) for t, y in zip(ts, ys, strict=True)]
        if n_slots:
            sums, totals = [0.0] * n_slots, [0.0] * n_slots
            for s, e, w in zip(slots, detrended, weights, strict=True):
                sums[s] += w * e
                totals[s] += w
            seasonal = [sums[k] / totals[k] if totals[k] else 0.0 for k in range(n_slots)]
            centre = statistics.fmean(seasonal)  # the line carries the mean, the season only the shape
            seasonal = [v - centre for v in seasonal]
        residuals = [e - (seasonal[s] if n_slots else 0.0) for e, s in zip(detrended, slots or [0] * len(ts),
                                                                           strict=True)]
        # MAD scale, corrected for the parameters fitted (168 seasonal values from four weeks is a quarter of n)
        dof = max(1, len(ts) - n_slots - 2)
        sigma = 1.4826 * statistics.median(abs(r) for r in residuals) * math.sqrt(len(ts) / dof)
        if sigma == 0:
            break
        weights = [min(1.0, HUBER_K * sigma / abs(r)) if r else 1.0 for r in residuals]
    _, _, t_centre, sxx = _weighted_line(ts, ys, [1.0] * len(ts))
    counts = [float(slots.count(k)) for k in range(n_slots)]
    return _Fit(level, slope, seasonal, counts, slot_s, t_mean, t_centre, sxx or 1.0, sigma, len(ts))


def forecast(points: Sequence[tuple[float, float]], horizon_hours: int, threshold: float | None = None,
             bounds: tuple[float, float] | None = None, step_s: int = HOUR) -> Forecast:
    """Forecasts `horizon_hours` past the last point; `threshold` asks how long until it is reached; `bounds`
    clips the forecast (utilisation: (0, 1))."""
    model = fit(points)
    last = float(points[-1][0])
    out: list[ForecastPoint] = []
    until = pessimistic = None
    for k in range(1, horizon_hours * HOUR // step_s + 1):
        ts = last + k * step_s
        mean, half = model.at(ts)
        lo, hi = mean - half, mean + half
        if bounds:
            mean, lo, hi = (min(bounds[1], max(bounds[0], v)) for v in (mean, lo, hi))
        out.append(ForecastPoint(ts, mean, lo, hi))
        if threshold is not None:
            if until is None and mean >= threshold:
                until = (ts - last) / HOUR
            if pessimistic is None and hi >= threshold:
                pessimistic = (ts - last) / HOUR
    season = "week" if len(model.seasonal) == 168 else "day" if model.seasonal else "none"
    return Forecast(out, model.slope * DAY, model.sigma, season, until, pessimistic)


def predict(series_points: Sequence[tuple[float, float]], horizon: int) -> list[dict[str, float]]:
    """For the ML endpoint: `horizon` future steps at the series' own spacing, unbounded, as plain dicts."""
    if len(series_points) < 3:
        raise ValueError("a forecast needs at least three points")
    step = statistics.median(b[0] - a[0] for a, b in zip(series_points, series_points[1:], strict=False))
    hours = math.ceil(horizon * step / HOUR)
    result = forecast(series_points, hours, step_s=int(step))
    return [{"ts": p.ts, "value": p.value, "lower": p.lower, "upper": p.upper} for p in result.points[:horizon]]
