"""A submitted ingress reading becomes a point of its node's ingress level series (`ingress-limits`, the one agent
on `ingress.readings`, hands it to analytics), with the reading's time and level."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.helpers.factories import reading_body
from tests.helpers.support import wait_until


def test_a_reading_becomes_a_point_of_its_node_series(api: httpx.Client) -> None:
    body = reading_body(level_dbmv=-31.5)
    sent = api.post("/api/ingress", json=body)
    assert sent.status_code == 202, sent.text
    series = f"ingress/{body['node_id']}/level_dbmv"
    now = datetime.now(UTC)
    window = {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}

    def points() -> list[float]:
        page = api.get(f"/api/ml/series/{series}/scores", params=window)
        assert page.status_code == 200, page.text
        return [item["value"] for item in page.json()["items"]]

    assert wait_until(points, timeout=60, what="the reading's point") == [-31.5]
