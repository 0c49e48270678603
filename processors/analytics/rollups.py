"""Tumbling event-time rollups of one series: 1 min, 5 min and 1 h buckets of count, min, max, sum and p95.

Pure: `evolve(state, ts, value)` folds a point in, `close(state, watermark)` returns the buckets that can no longer
change. Only minute buckets take points; 5-minute and hourly buckets are merged from closed minute buckets, so a
coarse bucket is by construction the merge of its fine ones (`rollup` does the same for stored buckets). A point
whose minute bucket has closed (ended more than `grace_s` before the watermark) is counted in `late_dropped`, a NaN or
infinite value in `invalid_dropped`, and a second point at a time already folded in (a client sending a batch again)
in `duplicates` (the first value stands): none is ever silently lost, none counted twice. The sum is kept as exact
partial sums (Shewchuk's, as in math.fsum), so it does not depend on the order points or buckets are added in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from processors.analytics.sketch import Sketch

FINE_S = 60
COARSE_S = (300, 3600)
STATE_VERSION = 1


def _add_exact(partials: list[float], x: float) -> None:
    """Adds x to a list of non-overlapping partial sums whose exact total is the sum of everything added."""
    i = 0
    for y in partials:
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo:
            partials[i] = lo
            i += 1
        x = hi
    partials[i:] = [x]


@dataclass
class Bucket:
    width_s: int
    start: int
    count: int = 0
    min: float = math.inf
    max: float = -math.inf
    sum_parts: list[float] = field(default_factory=list)
    sketch: Sketch = field(default_factory=Sketch)

    @property
    def sum(self) -> float:
        return math.fsum(self.sum_parts)

    @property
    def mean(self) -> float:
        return self.sum / self.count

    @property
    def p95(self) -> float:
        q = self.sketch.quantile(0.95)
        return self.max if q is None else min(self.max, max(self.min, q))  # the true p95 lies within [min, max]

    def add(self, value: float) -> None:
        self.count += 1
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        _add_exact(self.sum_parts, value)
        self.sketch.add(value)

    def merge(self, other: Bucket) -> None:
        self.count += other.count
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        for part in other.sum_parts:
            _add_exact(self.sum_parts, part)
        self.sketch.merge(other.sketch)

    def to_dict(self) -> dict[str, Any]:
        return {"width_s": self.width_s, "start": self.start, "count": self.count, "min": self.min, "max": self.max,
                "sum_parts": list(self.sum_parts), "sketch": self.sketch.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Bucket:
        return cls(d["width_s"], d["start"], d["count"], d["min"], d["max"], list(d["sum_parts"]),
                   Sketch.from_dict(d["sketch"]))


@dataclass
class RollupState:
    grace_s: int = 120
    max_ts: float | None = None  # the latest event time seen: the natural watermark
    closed_through: float | None = None  # the latest watermark closed at
    late_dropped: int = 0
    invalid_dropped: int = 0
    duplicates: int = 0
    open: dict[int, Bucket] = field(default_factory=dict)  # minute buckets by start
    seen: set[float] = field(default_factory=set)  # the times folded into the open minute buckets
    pending: dict[int, dict[int, Bucket]] = field(default_factory=lambda: {w: {} for w in COARSE_S})

    def to_dict(self) -> dict[str, Any]:
        return {"v": STATE_VERSION, "grace_s": self.grace_s, "max_ts": self.max_ts,
                "closed_through": self.closed_through, "late_dropped": self.late_dropped,
                "invalid_dropped": self.invalid_dropped, "duplicates": self.duplicates,
                "open": [b.to_dict() for b in self.open.values()], "seen": sorted(self.seen),
                "pending": [b.to_dict() for w in COARSE_S for b in self.pending[w].values()]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RollupState:
        if d.get("v") != STATE_VERSION:
            raise ValueError(f"unknown rollup state version {d.get('v')!r}")
        st = cls(d["grace_s"], d["max_ts"], d["closed_through"], d["late_dropped"], d["invalid_dropped"],
                 d["duplicates"], seen=set(d["seen"]))
        st.open = {b["start"]: Bucket.from_dict(b) for b in d["open"]}
        for b in d["pending"]:
            st.pending[b["width_s"]][b["start"]] = Bucket.from_dict(b)
        return st


def _closed(start: int, width: int, grace_s: int, watermark: float | None) -> bool:
    return watermark is not None and start + width + grace_s <= watermark


def evolve(state: RollupState, ts: float, value: float) -> RollupState:
    """Folds one point in. The state is updated in place and returned (the caller owns and stores it)."""
    if not math.isfinite(value) or not math.isfinite(ts):
        state.invalid_dropped += 1
        return state
    start = int(ts // FINE_S) * FINE_S
    if _closed(start, FINE_S, state.grace_s, state.closed_through):
        state.late_dropped += 1
        return state
    if ts in state.seen:
        state.duplicates += 1
        return state
    state.seen.add(ts)
    state.open.setdefault(start, Bucket(FINE_S, start)).add(value)
    state.max_ts = ts if state.max_ts is None else max(state.max_ts, ts)
    return state


def close(state: RollupState, watermark: float) -> tuple[RollupState, list[Bucket]]:
    """The buckets that end at least `grace_s` before the watermark, finest first, each in start order."""
    if state.closed_through is not None and watermark <= state.closed_through:
        return state, []
    state.closed_through = watermark
    out: list[Bucket] = []
    for start in sorted(s for s in state.open if _closed(s, FINE_S, state.grace_s, watermark)):
        fine = state.open.pop(start)
        out.append(fine)
        for width in COARSE_S:
            coarse_start = start // width * width
            state.pending[width].setdefault(coarse_start, Bucket(width, coarse_start)).merge(fine)
    if out:  # only the open minutes' times can be repeated without being late
        state.seen = {t for t in state.seen if int(t // FINE_S) * FINE_S in state.open}
    for width in COARSE_S:
        for start in sorted(s for s in state.pending[width] if _closed(s, width, state.grace_s, watermark)):
            out.append(state.pending[width].pop(start))
    return state, out


def rollup(buckets: Iterable[Bucket], width: int) -> list[Bucket]:
    """Merges finer buckets into buckets of `width` (a multiple of theirs), in start order. Inputs are not changed."""
    merged: dict[int, Bucket] = {}
    for b in buckets:
        start = b.start // width * width
        target = merged.get(start)
        if target is None:
            merged[start] = target = Bucket(width, start)
        target.merge(b)
    return [merged[s] for s in sorted(merged)]


def bucket_points(points: Iterable[tuple[float, float]], width: int) -> list[Bucket]:
    """Direct batch rollup of (ts, value) points, no grace: the reference the streaming path must agree with."""
    out: dict[int, Bucket] = {}
    for ts, value in points:
        start = int(ts // width) * width
        out.setdefault(start, Bucket(width, start)).add(value)
    return [out[s] for s in sorted(out)]
