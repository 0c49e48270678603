"""An `anomaly` alert rule end to end: points of a series go through the real processor (rollups, the detector), its
AnomalyDetected raises the rule's alert and its AnomalyCleared resolves it (processors, alert engine, projections,
API). The points are sent through the ML interface: a device's own series would need 8 days of polls for the
detector's warm-up (tests/unit/analytics/test_detector.py covers the detector's verdicts on interface-like series)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.helpers.series import STEP, history, send, usual
from tests.helpers.support import wait_until


def alerts_of(api: httpx.Client, rule_id: str) -> list[dict[str, Any]]:
    answer = api.get("/api/alerts/", params={"rule": rule_id})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def after(end: datetime, first: int, values: list[float] | None = None, n: int = 0) -> list[dict[str, object]]:
    """Points continuing the history after `end`: `values` (a jump), or `n` usual ones."""
    count = len(values) if values is not None else n
    found = []
    for k in range(count):
        t = end + STEP * (first + k)
        found.append({"t": t.isoformat(), "value": values[k] if values is not None else usual(t, 9 * 288 + first + k)})
    return found


def test_an_anomaly_rule_raises_on_a_jump_and_resolves_when_the_series_is_calm_again(api: httpx.Client) -> None:
    tag = secrets.token_hex(4)
    series, rule_id = f"ml/test/alert-{tag}/in_bps", f"anomaly-{tag}"
    body = {"rule_id": rule_id, "name": f"Traffic anomaly {tag}", "severity": "medium", "labels": {"team": "noc"},
            "params": {"kind": "anomaly", "series": f"ml/test/alert-{tag}/*", "min_score": 0.5}}
    made = api.post("/api/alerts/rules", params={"wait": "true"}, json=body)
    assert made.status_code == 201, made.text

    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    send(api, series, history(end, spike=False))
    assert alerts_of(api, rule_id) == []  # a usual week and a day: nothing to say

    send(api, series, after(end, 0, values=[1000.0, 1100.0, 1050.0]))  # the traffic jumps tenfold
    firing = wait_until(lambda: [a for a in alerts_of(api, rule_id) if a["status"] == "firing"], timeout=30,
                        what="the anomaly alert to fire")
    assert len(firing) == 1 and series in str(firing[0])

    send(api, series, after(end, 3, n=12))  # back to usual: cleared after a few calm points
    resolved = wait_until(lambda: [a for a in alerts_of(api, rule_id) if a["status"] == "resolved"], timeout=30,
                          what="the anomaly alert to resolve")
    assert [a["alert_id"] for a in resolved] == [firing[0]["alert_id"]]
