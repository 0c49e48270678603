"""Analytics (issue 12): metric points in, and what the analytics processor derives from them — each point scored by
the series' online detector, tumbling rollups, anomalies with hysteresis, capacity forecasts.

Points of platform series come from the events that carry them (InterfaceRateComputed, DeviceReachable,
CameraStreamChecked) on their own topics; points of ML clients and of ingress levels travel as
MetricPointsSubmitted on `analytics.points`, keyed by series.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from schemas.analytics.series import ML_PREFIX, SeriesKey
from schemas.envelope import Payload

MAX_BATCH = 10_000


class MetricPoint(Payload):
    t: datetime = Field(description="event time, with a time zone")
    value: float = Field(allow_inf_nan=False)


class MetricPointsSubmitted(Payload):
    """A batch of one series' points in `t` order (an ML client's upload, or ingress levels per node)."""

    series: SeriesKey
    points: tuple[MetricPoint, ...] = Field(min_length=1, max_length=MAX_BATCH)

    @property
    def from_client(self) -> bool:
        """An ML client's upload (its series under `ml/`): the client may wait for the verdict on it."""
        return self.series.startswith(ML_PREFIX)

    @field_validator("points")
    @classmethod
    def _in_order(cls, points: tuple[MetricPoint, ...]) -> tuple[MetricPoint, ...]:
        if any(b.t <= a.t for a, b in zip(points, points[1:], strict=False)):
            raise ValueError("points must be in strictly increasing t order (sorted, one value per t)")
        return points


class ScoredPoint(Payload):
    """One point with its detector verdict. `score` is None when the point came out of order (its time is not after
    the last scored one: a causal detector cannot judge it); it is 0 while the detector warms up (`warm` false)."""

    series: SeriesKey
    t: datetime
    value: float = Field(allow_inf_nan=False)
    score: float | None = Field(default=None, ge=0, le=1)
    expected: float | None = Field(default=None, allow_inf_nan=False)
    lower: float | None = Field(default=None, allow_inf_nan=False)
    upper: float | None = Field(default=None, allow_inf_nan=False)
    anomaly: bool = False
    seen: int = Field(ge=0, description="points the series' detector has learnt from so far")
    warm: bool = Field(description="the detector's warm-up is over: it judges")


class MetricPointsScored(Payload):
    """Every point of one input event, scored (keyed like the input: by device, camera or series)."""

    points: tuple[ScoredPoint, ...] = Field(min_length=1)
    submission: uuid.UUID | None = Field(default=None,
                                         description="the ML client's MetricPointsSubmitted event scored, if any")


class RollupBucket(Payload):
    """One closed tumbling bucket of a series: count, min, max, sum (mean = sum / count) and p95 from a DDSketch
    (1 % relative accuracy; coarser buckets are the merge of their minutes' sketches)."""

    series: SeriesKey
    width_s: Literal[60, 300, 3600]
    start: datetime
    count: int = Field(ge=1)
    min: float = Field(allow_inf_nan=False)
    max: float = Field(allow_inf_nan=False)
    sum: float = Field(allow_inf_nan=False)
    p95: float = Field(allow_inf_nan=False)


class MetricRollupsClosed(Payload):
    """Buckets that closed (their end plus the grace passed in the series' own time) while one input was folded in;
    `late` and `duplicates` are a series' totals of refused points (later than the grace; a time already folded in,
    whose first value stands), sent when they grow."""

    buckets: tuple[RollupBucket, ...] = Field(default=())
    late: dict[SeriesKey, int] = Field(default_factory=dict)
    duplicates: dict[SeriesKey, int] = Field(default_factory=dict)
    submission: uuid.UUID | None = Field(default=None,
                                         description="the ML client's MetricPointsSubmitted event folded, if any")


class AnomalyDetected(Payload):
    """A series' detector started flagging (score >= 0.5 for two points, or one very high): hysteresis on."""

    series: SeriesKey
    at: datetime = Field(description="the point's time")
    score: float = Field(ge=0, le=1)
    value: float = Field(allow_inf_nan=False)
    expected: float = Field(allow_inf_nan=False)
    lower: float = Field(allow_inf_nan=False)
    upper: float = Field(allow_inf_nan=False)
    reason: str = Field(max_length=50, description="deviation, drift, variance or flatline")


class AnomalyCleared(Payload):
    """The series has been calm (score < 0.25) for six points since it was flagged."""

    series: SeriesKey
    at: datetime
    score: float = Field(ge=0, le=1)
    value: float = Field(allow_inf_nan=False)


class ForecastPoint(Payload):
    at: datetime
    value: float
    lower: float
    upper: float


class CapacityForecastUpdated(Payload):
    """An interface's utilisation (busier direction, 0..1) forecast from its hourly rollups: the trend, when the
    forecast (and, pessimistically, its upper bound) reaches `threshold`, and one point a day with its 95 % band."""

    series: SeriesKey
    device_id: str = Field(min_length=1, max_length=200)
    if_index: int = Field(ge=1)
    at: datetime = Field(description="the last hour the forecast saw")
    threshold: float = Field(gt=0, le=1)
    horizon_hours: int = Field(ge=1)
    current: float = Field(description="the last hourly mean")
    slope_per_day: float
    season: Literal["week", "day", "none"]
    hours_until: float | None
    hours_until_pessimistic: float | None
    history_hours: int = Field(ge=3)
    points: tuple[ForecastPoint, ...]
    request_id: str | None = Field(default=None, max_length=100, description="set when asked for (on demand)")


class CapacityForecastRequested(Payload):
    """Someone asked for fresh capacity forecasts now (of every interface, or of one device's)."""

    request_id: str = Field(min_length=1, max_length=100)
    device_id: str | None = Field(default=None, min_length=1, max_length=200)
    at: datetime
    by: str = Field(min_length=1, max_length=200)
