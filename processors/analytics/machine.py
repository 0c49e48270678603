"""One series' analytics, pure: `fold(state, source, offset, points)` folds the points one input event carried into
the series' rollups, scores each with the series' detector, and says what came of it (scored points, closed buckets,
anomaly events, a capacity forecast when one is due).

Idempotent by position: a series remembers the last source offset folded in, so a redelivered input (or one read
again while catching up after a restart) changes nothing. Deterministic: only event time is used (no clock), so the
same inputs give the same outcome however they were batched or interrupted.
"""

from __future__ import annotations

import math
import struct
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from processors.analytics.capacity import HOURLY_KEPT_S, due, forecast_of
from processors.analytics.detector import step
from processors.analytics.detector_state import DetectorState, Event, Verdict
from processors.analytics.rollups import Bucket, RollupState, close, evolve
from schemas.analytics.forecast import Forecast
from schemas.analytics.params import Params

STATE_VERSION = 1


@dataclass
class SeriesState:
    source: str = ""  # "topic:partition" the series' points arrive on
    offset: int = -1  # the last offset of that partition folded in
    rollups: RollupState = field(default_factory=RollupState)
    detector: DetectorState = field(default_factory=DetectorState)
    hours: array[int] = field(default_factory=lambda: array("I"))  # utilisation series: 4 weeks of hourly means,
    means: array[float] = field(default_factory=lambda: array("f"))  # float32: hours since the epoch, mean
    forecast_at: float | None = None  # the hour start of the last daily capacity forecast
    late_reported: int = 0
    duplicates_reported: int = 0

    def encode(self) -> bytes:
        """Bytes, exact where the next fold depends on it (the detector's float64s, the rollups' JSON); the hourly
        means are float32, rounded the same way at every fold, so a restored series continues exactly."""
        source, rollups, detector = self.source.encode(), orjson.dumps(self.rollups.to_dict()), self.detector.pack()
        head = _HEAD.pack(STATE_VERSION, self.offset, math.nan if self.forecast_at is None else self.forecast_at,
                          self.late_reported, self.duplicates_reported, len(source), len(rollups), len(detector),
                          len(self.hours))
        return b"".join((head, source, rollups, detector, self.hours.tobytes(), self.means.tobytes()))

    @classmethod
    def decode(cls, raw: bytes) -> SeriesState:
        version, offset, forecast_at, late, duplicates, *sizes = _HEAD.unpack_from(raw)
        if version != STATE_VERSION:
            raise ValueError(f"unknown series state version {version!r}")
        at = _HEAD.size
        parts = []
        for size in (*sizes[:3], sizes[3] * 4, sizes[3] * 4):
            parts.append(raw[at:at + size])
            at += size
        hours, means = array("I"), array("f")
        hours.frombytes(parts[3])
        means.frombytes(parts[4])
        return cls(parts[0].decode(), offset, RollupState.from_dict(orjson.loads(parts[1])),
                   DetectorState.unpack(parts[2]), hours, means, None if math.isnan(forecast_at) else forecast_at,
                   late, duplicates)


# version, offset, forecast_at (NaN: none), late and duplicates reported, then the sizes of the source, the rollups'
# JSON, the detector's bytes and the number of hourly means
_HEAD = struct.Struct("<Bqdqq4I")


@dataclass(frozen=True)
class Scored:
    t: float
    value: float
    verdict: Verdict | None  # None: out of order (not after the last scored time), so not scored
    seen: int
    warm: bool


@dataclass(frozen=True)
class Capacity:
    """A daily capacity forecast that came due: the result, the last hour it saw, how many hours, the last mean."""

    result: Forecast
    last_hour: float
    history_hours: int
    current: float


@dataclass
class Outcome:
    folded: bool = False  # False: this input had been folded in already
    scored: list[Scored] = field(default_factory=list)
    buckets: list[Bucket] = field(default_factory=list)
    events: list[tuple[Event, Scored]] = field(default_factory=list)
    late: int = 0  # the series' total of points refused as later than the grace, when it grew (else 0)
    duplicates: int = 0  # the same for repeated times
    forecast: Capacity | None = None



def new_state(grace_s: int) -> SeriesState:
    return SeriesState(rollups=RollupState(grace_s=grace_s))


def fold(state: SeriesState, source: str, offset: int, points: Sequence[tuple[float, float]], *, capacity: bool,
         params: Params, threshold: float, horizon_h: int) -> Outcome:
    """Fold one input's points of this series (mutating `state`). `capacity`: keep hourly means and forecast daily."""
    if state.source == source and offset <= state.offset:
        return Outcome()  # this input was folded in already
    state.source, state.offset = source, offset
    out = Outcome(folded=True)
    rollups, detector = state.rollups, state.detector
    warm_after = params.warmup_days * 86_400
    for t, value in points:
        refused = rollups.late_dropped + rollups.duplicates + rollups.invalid_dropped
        evolve(rollups, t, value)
        if rollups.late_dropped + rollups.duplicates + rollups.invalid_dropped != refused:
            continue
        verdict = step(detector, t, value, params)
        warm = detector.n > 0 and detector.last_ts - detector.first_ts >= warm_after
        scored = Scored(t, value, None if verdict.stale else verdict, detector.n, warm)
        out.scored.append(scored)
        if not verdict.stale and verdict.event is not None:
            out.events.append((verdict.event, scored))
    if rollups.max_ts is not None:
        _, out.buckets = close(rollups, rollups.max_ts)
    if rollups.late_dropped != state.late_reported:  # totals, not increments: a read model keeps the largest
        out.late = state.late_reported = rollups.late_dropped
    if rollups.duplicates != state.duplicates_reported:
        out.duplicates = state.duplicates_reported = rollups.duplicates
    if capacity:
        _hourly(state, out, threshold, horizon_h)
    return out


def _hourly(state: SeriesState, out: Outcome, threshold: float, horizon_h: int) -> None:
    closed = [b for b in out.buckets if b.width_s == 3600]
    if not closed:
        return
    for bucket in closed:
        state.hours.append(bucket.start // 3600)
        state.means.append(bucket.mean)  # stored as float32, like every mean before it
    oldest = state.hours[-1] - HOURLY_KEPT_S // 3600
    first = next(i for i, h in enumerate(state.hours) if h > oldest)
    if first:
        del state.hours[:first]
        del state.means[:first]
    hourly = [(h * 3600.0, m) for h, m in zip(state.hours, state.means, strict=True)]
    if due(hourly, state.forecast_at):
        state.forecast_at = hourly[-1][0]
        out.forecast = Capacity(forecast_of(hourly, threshold, horizon_h), state.forecast_at, len(hourly),
                                hourly[-1][1])


def finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
