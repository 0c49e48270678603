"""Metric series for analytics tests: a history a warm detector can judge."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import httpx

from tests.helpers.support import wait_until

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


def send(api: httpx.Client, series: str, points: list[dict[str, object]], batch: int = 1500) -> None:
    """Send the points through the ML interface and wait until they are scored and projected (a big batch may take
    longer than one read waits on a loaded machine: a 504 says retry the read)."""
    token = ""
    for first in range(0, len(points), batch):
        sent = api.post(f"/api/ml/series/{series}/points", json={"points": points[first:first + batch]})
        assert sent.status_code == 202, sent.text
        token = sent.json()["consistency_token"]

    def scored() -> bool:
        read = api.get(f"/api/ml/series/{series}/scores", params={"after": token, "limit": 1})
        assert read.status_code in (200, 504), read.text
        return read.status_code == 200
    wait_until(scored, timeout=90, interval=0.5, what="the points to be scored")
