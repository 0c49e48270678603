"""Metric series for analytics tests: a history a warm detector can judge."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

STEP = timedelta(minutes=5)


def history(end: datetime) -> list[dict[str, object]]:
    """Nine days of a daily curve at 5-minute steps (past the detector's warm-up), a spike near the end."""
    count = 9 * 288
    start = end - STEP * count
    points = []
    for i in range(count):
        t = start + STEP * i
        value = 100.0 + 40.0 * math.sin(2 * math.pi * (t.hour * 60 + t.minute) / 1440) + (i * 7919 % 13) / 13
        if i == count - 20:
            value *= 6
        points.append({"t": t.isoformat(), "value": value})
    return points
