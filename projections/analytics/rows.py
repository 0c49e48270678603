"""The rows one batch of analytics events makes, gathered per table before they are written (pure)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from projections.records import Record
from schemas.analytics.events import (
    AnomalyCleared,
    AnomalyDetected,
    CapacityForecastUpdated,
    MetricPointsScored,
    MetricPointsSubmitted,
    MetricRollupsClosed,
)
from schemas.analytics.series import series_id

REAL_MAX = 3.4e38  # what a `real` column holds
REAL_MIN = 1.2e-38  # below it PostgreSQL refuses a `real` as out of range instead of rounding it to zero


def real(value: float | None) -> float | None:
    """A figure as a `real` column takes it: beyond its range none, too small for it zero (as float32 rounds)."""
    if value is None or not -REAL_MAX < value < REAL_MAX:
        return None
    return 0.0 if -REAL_MIN < value < REAL_MIN else value


@dataclass
class SeriesSeen:
    series: str
    points: int
    warm: bool
    first_t: datetime
    last_t: datetime
    updated_at: datetime

    def merge(self, points: int, warm: bool, t: datetime, at: datetime) -> None:
        self.points, self.warm = max(self.points, points), self.warm or warm
        self.first_t, self.last_t = min(self.first_t, t), max(self.last_t, t)
        self.updated_at = max(self.updated_at, at)


@dataclass
class Rows:
    points: list[tuple[Any, ...]] = field(default_factory=list)
    buckets: dict[int, list[tuple[Any, ...]]] = field(default_factory=lambda: {60: [], 300: [], 3600: []})
    series: dict[int, SeriesSeen] = field(default_factory=dict)
    refusals: dict[int, list[Any]] = field(default_factory=dict)  # id -> [late total, duplicates total, at]
    anomalies: list[tuple[Any, ...]] = field(default_factory=list)
    forecasts: list[tuple[Any, ...]] = field(default_factory=list)
    submissions: list[tuple[Any, ...]] = field(default_factory=list)
    verdicts: set[uuid.UUID] = field(default_factory=set)  # submissions whose verdict is in this batch

    def add(self, record: Record) -> None:
        envelope = record.event
        if envelope is None:
            return
        data, at = envelope.data, envelope.recorded_at
        if isinstance(data, MetricPointsScored):
            self._scored(data, at)
        elif isinstance(data, MetricRollupsClosed):
            self._rollups(data, at)
        elif isinstance(data, AnomalyDetected):
            self.anomalies.append((envelope.event_id, series_id(data.series), data.series, envelope.type, data.at,
                                   real(data.score) or 0.0, data.value, data.expected, data.lower, data.upper,
                                   data.reason))
        elif isinstance(data, AnomalyCleared):
            self.anomalies.append((envelope.event_id, series_id(data.series), data.series, envelope.type, data.at,
                                   real(data.score) or 0.0, data.value, None, None, None, None))
        elif isinstance(data, CapacityForecastUpdated):
            points = orjson.dumps([p.model_dump(mode="json") for p in data.points]).decode()
            self.forecasts.append((series_id(data.series), data.series, data.device_id, data.if_index, data.at,
                                   data.threshold, data.current, data.slope_per_day, data.season, data.hours_until,
                                   data.hours_until_pessimistic, data.history_hours, points, data.request_id,
                                   envelope.event_id))
        elif isinstance(data, MetricPointsSubmitted) and data.from_client:  # a client may wait for its verdict
            self.submissions.append((envelope.event_id, series_id(data.series), len(data.points), record.partition,
                                     record.offset, envelope.recorded_at))
        submission = getattr(data, "submission", None)
        if submission is not None:
            self.verdicts.add(submission)

    def _scored(self, data: MetricPointsScored, at: datetime) -> None:
        for p in data.points:
            key = series_id(p.series)
            self.points.append((key, p.t, p.value, real(p.score), real(p.expected), real(p.lower), real(p.upper),
                                p.anomaly))
            seen = self.series.get(key)
            if seen is None:
                self.series[key] = SeriesSeen(p.series, p.seen, p.warm, p.t, p.t, at)
            else:
                seen.merge(p.seen, p.warm, p.t, at)

    def _rollups(self, data: MetricRollupsClosed, at: datetime) -> None:
        for b in data.buckets:
            self.buckets[b.width_s].append((series_id(b.series), b.start, b.count, b.min, b.max, b.sum, b.p95))
        for series in {*data.late, *data.duplicates}:
            totals = self.refusals.setdefault(series_id(series), [0, 0, at])
            totals[0] = max(totals[0], data.late.get(series, 0))
            totals[1] = max(totals[1], data.duplicates.get(series, 0))
            totals[2] = max(totals[2], at)
