"""Submitted ingress readings become points of their node's ingress level series (`ingress-limits`, the one agent on
`ingress.readings`, hands them to analytics, one event per run of a node's readings in its batch), each with its
reading's time and level, once; the processors' own batches are no submissions a client waits for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import psycopg

from schemas.analytics.series import series_id
from tests.helpers.factories import reading_body
from tests.helpers.support import Stack, wait_until


def test_readings_become_points_of_their_node_series_each_once(stack: Stack, api: httpx.Client) -> None:
    first = reading_body(level_dbmv=-31.5)
    levels = [-31.5, -30.0, -28.5, -27.0, -25.5]
    for level in levels:  # sent back to back: the agent may take several in one batch
        sent = api.post("/api/ingress", json={**first, "level_dbmv": level})
        assert sent.status_code == 202, sent.text
    series = f"ingress/{first['node_id']}/level_dbmv"
    now = datetime.now(UTC)
    window = {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}

    def points() -> list[float] | None:
        page = api.get(f"/api/ml/series/{series}/scores", params=window)
        assert page.status_code == 200, page.text
        found = [item["value"] for item in page.json()["items"]]
        return found if len(found) >= len(levels) else None

    assert wait_until(points, timeout=60, what="the readings' points") == levels
    with psycopg.connect(stack.backbone.database_url) as conn:
        kept = conn.execute("SELECT count(*) FROM metric_submissions WHERE series_id = %s",
                            (series_id(series),)).fetchone()
    assert kept == (0,)
