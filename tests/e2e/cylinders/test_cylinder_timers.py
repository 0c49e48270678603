"""The processor's daily check end to end, run every second here: re-test warnings and lost candidates are
raised once each, reach the read models and the reports, and a later scan clears the flag."""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from producers.cylinders.qrcodes import new_code
from tests.helpers.support import own_backbone, running_stack, wait_until


def scans(client: httpx.Client, *items: dict[str, Any]) -> list[dict[str, Any]]:
    body = {"scans": [{"client_scan_id": str(uuid.uuid4()), **item} for item in items]}
    answer = client.post("/api/scans", params={"wait": "true"}, json=body)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["outcomes"])


def history(api: httpx.Client, code: str) -> list[str]:
    return [h["type"] for h in api.get(f"/api/cylinders/{code}/history").json()]


def test_the_daily_check_warns_of_retests_and_flags_lost_cylinders_once(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    soon, lost, recent = new_code(), new_code(), new_code()
    acme = f"Acme {secrets.token_hex(3)}"
    with own_backbone(tmp_path) as backbone, running_stack(
            backbone, tmp_path / "stack", OPSLEDGER_CYLINDER_TIMER_INTERVAL_S="1", OPSLEDGER_OVERDUE_DAYS="3",
            OPSLEDGER_RETEST_WARN_DAYS="45") as stack, stack.client() as api:
        added = (now - timedelta(days=10)).isoformat()
        scans(api, {"qr_code": soon, "action": "add", "scanned_at": added,
                    "retest_due": (now + timedelta(days=30)).date().isoformat()},
              {"qr_code": lost, "action": "add", "scanned_at": added, "retest_due": "2035-01-01"},
              {"qr_code": recent, "action": "add", "scanned_at": added, "retest_due": "2035-01-01"})
        scans(api, {"qr_code": lost, "action": "ship", "counterparty": acme,
                    "scanned_at": (now - timedelta(days=5)).isoformat()},
              {"qr_code": recent, "action": "ship", "counterparty": acme,
               "scanned_at": (now - timedelta(days=1)).isoformat()})

        def flagged() -> bool:
            overdue = [c["qr_code"] for c in api.get("/api/cylinders", params={"overdue": "true"}).json()["items"]]
            warned = api.get(f"/api/cylinders/{soon}").json()["retest_due_soon"]
            return overdue == [lost] and warned
        wait_until(flagged, timeout=30, what="the daily check to flag the cylinders")
        time.sleep(3)  # three more runs of the check: nothing is raised twice

        assert history(api, lost).count("CylinderOverdue") == 1
        assert history(api, soon).count("RetestDueSoon") == 1
        assert "CylinderOverdue" not in history(api, recent) and "RetestDueSoon" not in history(api, recent)

        today = now.date().isoformat()
        got = api.get("/api/admin/reports", params={"from": today, "to": today}).json()["lost_candidates"]
        assert got["count"] == 1
        (candidate,) = got["latest"]
        assert (candidate["qr_code"], candidate["customer"], candidate["still_overdue"]) == (lost, acme, True)
        assert candidate["days_without_scan"] == 5

        scans(api, {"qr_code": lost, "action": "return", "counterparty": acme, "scanned_at": now.isoformat()})
        assert api.get(f"/api/cylinders/{lost}").json()["overdue"] is False
        got = api.get("/api/admin/reports", params={"from": today, "to": today}).json()["lost_candidates"]
        assert got["latest"][0]["still_overdue"] is False  # found again; the report still shows it was lost
