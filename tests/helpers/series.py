"""Metric series for analytics tests: a history a warm detector can judge."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

STEP = timedelta(minutes=5)


def usual(t: datetime, i: int) -> float:
    """A daily curve with a little deterministic noise."""
    return 100.0 + 40.0 * math.sin(2 * math.pi * (t.hour * 60 + t.minute) / 1440) + (i * 7919 % 13) / 13


def history(end: datetime, spike: bool = True, count: int = 9 * 288) -> list[dict[str, object]]:
    """`count` points at 5-minute steps up to `end` (nine days: past the detector's warm-up), with a spike 20 points
    before the end unless `spike` is False."""
    start = end - STEP * count
    points = []
    for i in range(count):
        t = start + STEP * i
        value = usual(t, i) * (6 if spike and i == count - 20 else 1)
        points.append({"t": t.isoformat(), "value": value})
    return points
