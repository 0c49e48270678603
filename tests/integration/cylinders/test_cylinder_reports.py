"""A day (and the weeks after it) of scans from several workers, through the HTTP API and the scanner CLI, checked
through GET /api/admin/reports. Past dates keep the figures apart from the rest of the session's scans."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from producers.cylinders.qrcodes import new_code
from tests.helpers.support import Stack
from tests.integration.cylinders.test_cli_scan import scan_cli

DAY = date(2023, 5, 9)  # a Tuesday
MONDAY = DAY - timedelta(days=1)


def at(days: int, hour: int) -> datetime:
    return datetime.combine(DAY + timedelta(days=days), time(hour), UTC)


class Handheld:
    def __init__(self, stack: Stack, role: str) -> None:
        self.client = httpx.Client(base_url=stack.api_url, headers=stack.user(role), timeout=30)
        self.name = self.client.get("/api/auth/profile").json()["username"]

    def scan(self, action: str, codes: list[str], when: datetime, who: str | None = None,
             ids: list[str] | None = None) -> list[dict[str, Any]]:
        ids = ids or [str(uuid.uuid4()) for _ in codes]
        body = {"scans": [{"client_scan_id": i, "qr_code": c, "action": action, "counterparty": who,
                           "scanned_at": when.isoformat()} for i, c in zip(ids, codes, strict=True)]}
        answer = self.client.post("/api/scans", params={"wait": "true"}, json=body)
        assert answer.status_code == 200, answer.text
        return list(answer.json()["outcomes"])


def report(api: httpx.Client, start: date, to: date) -> dict[str, Any]:
    answer = api.get("/api/admin/reports", params={"from": start.isoformat(), "to": to.isoformat()})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_a_day_of_scans_from_several_workers_shows_in_the_reports(stack: Stack, api: httpx.Client,
                                                                   tmp_path: Path) -> None:
    acme, bolt, station = f"Acme {secrets.token_hex(3)}", f"Bolt {secrets.token_hex(3)}", "North fill"
    ann, ben = Handheld(stack, "worker"), Handheld(stack, "worker")
    codes = [new_code() for _ in range(6)]
    added = api.post("/api/scans", params={"wait": "true"}, json={"scans": [
        {"client_scan_id": f"add-{c}", "qr_code": c, "action": "add", "scanned_at": at(0, 7).isoformat(),
         "retest_due": "2030-01-01"} for c in codes]})
    assert {o["outcome"] for o in added.json()["outcomes"]} == {"CylinderAdded"}

    morning = [f"ann-{secrets.token_hex(4)}" for _ in range(4)]
    assert {o["outcome"] for o in ann.scan("ship", codes[:4], at(0, 8), acme, morning)} == {"CylinderShipped"}
    ann.scan("ship", codes[:4], at(0, 8), acme, morning)  # the handheld retries the batch: harmless
    assert ann.scan("ship", codes[:1], at(0, 9), bolt)[0]["outcome"] == "ScanRejected"
    ben.scan("ship", codes[4:5], at(0, 9), bolt)
    assert {o["outcome"] for o in ben.scan("return", codes[:2], at(7, 10), acme)} == {"CylinderReturned"}
    ann.scan("refill_send", codes[:2], at(7, 12), station)
    ann.scan("refill_receive", codes[:1], at(8, 12), station)  # 24 h at the station
    ann.scan("refill_receive", codes[1:2], at(9, 18), station)  # 54 h
    ben.scan("return", codes[4:5], at(16, 11), acme)  # Bolt had it; Acme brings it back: custody corrected

    got = report(api, MONDAY, MONDAY + timedelta(days=20))

    assert got["from"] == MONDAY.isoformat() and got["to"] == (MONDAY + timedelta(days=20)).isoformat()
    turnaround = got["refill_turnaround"]
    assert turnaround["count"] == 2
    assert turnaround["avg_hours"] == pytest.approx(39) and turnaround["p50_hours"] == pytest.approx(39)
    assert turnaround["p90_hours"] == pytest.approx(51) and turnaround["max_hours"] == pytest.approx(54)

    stays = got["days_at_customer"]
    assert (stays["returned"], stays["still_out"]) == (3, 2)
    assert stays["p50_days"] == pytest.approx(7 + 2 / 24) and stays["p90_days"] == pytest.approx(7 + 2 / 24 + 7.2)
    by_bucket = {(b["from_days"], b["to_days"]): (b["returned"], b["still_out"]) for b in stays["buckets"]}
    assert by_bucket == {(0, 7): (0, 0), (7, 14): (2, 0), (14, 30): (1, 2), (30, 60): (0, 0), (60, 90): (0, 0),
                         (90, None): (0, 0)}

    assert [(w["week"], w["shipped"], w["returned"]) for w in got["shipments_per_week"]] == [
        (MONDAY.isoformat(), 5, 0), ((MONDAY + timedelta(days=7)).isoformat(), 0, 2),
        ((MONDAY + timedelta(days=14)).isoformat(), 0, 1)]

    workers = {w["worker"]: w for w in got["worker_activity"]}
    assert set(workers) == {ann.name, ben.name, "test-admin"}
    assert (workers[ann.name]["scans"], workers[ann.name]["rejected"]) == (9, 1)
    assert workers[ann.name]["by_action"] == {"ship": 5, "refill_send": 2, "refill_receive": 2}
    assert (workers[ben.name]["scans"], workers[ben.name]["by_action"]) == (4, {"ship": 1, "return": 3})
    assert workers["test-admin"]["by_action"] == {"add": 6}
    assert workers[ann.name]["first_scan_at"] == at(0, 8).isoformat().replace("+00:00", "Z")

    rejected = got["rejected_scans"]
    assert (rejected["count"], rejected["by_action"]) == (1, {"ship": 1})
    assert rejected["latest"][0]["qr_code"] == codes[0] and rejected["latest"][0]["worker"] == ann.name
    assert "sent" in rejected["latest"][0]["reason"]
    assert got["lost_candidates"] == {"count": 0, "latest": []}  # the daily check: tests/e2e/test_cylinder_timers.py

    # the scanner CLI, today: the same reports count its scans under the API key's name
    today = datetime.now(UTC).date()
    before = report(api, today, today)
    key_name = f"dock-{secrets.token_hex(3)}"
    key = api.post("/api/auth/api-keys", json={"name": key_name, "scopes": ["scans:write"]}).json()["key"]
    shipped = scan_cli(stack, key, f"{codes[5]}\n{codes[2]}\n", "--action", "ship", "--to", bolt,
                       "--buffer", str(tmp_path / "buffer.jsonl"))
    assert shipped.returncode == 0, shipped.stderr
    lines = shipped.stdout.splitlines()
    assert lines[0] == f"{codes[5]}: CylinderShipped" and lines[1].startswith(f"{codes[2]}: ScanRejected"), lines
    after = report(api, today, today)
    cli = {w["worker"]: w for w in after["worker_activity"]}[key_name]
    assert (cli["scans"], cli["rejected"], cli["by_action"]) == (2, 1, {"ship": 2})
    assert after["rejected_scans"]["count"] == before["rejected_scans"]["count"] + 1
    assert after["shipments_per_week"][-1]["shipped"] == before["shipments_per_week"][-1]["shipped"] + 1


def test_report_days_and_weeks_follow_the_given_time_zone(stack: Stack, api: httpx.Client) -> None:
    """`tz` (IANA) sets the day and week boundaries: 22:00 on Sunday 5 March in New York is 03:00 UTC on Monday."""
    night = Handheld(stack, "worker")
    codes = [new_code() for _ in range(2)]
    sunday_night = datetime(2023, 3, 6, 3, 0, tzinfo=UTC)  # 2023-03-05 22:00 EST, a Sunday
    added = api.post("/api/scans", params={"wait": "true"}, json={"scans": [
        {"client_scan_id": f"add-{c}", "qr_code": c, "action": "add", "scanned_at": "2023-03-01T00:00:00Z",
         "retest_due": "2030-01-01"} for c in codes]})
    assert added.status_code == 200, added.text
    night.scan("ship", codes, sunday_night, f"Night {secrets.token_hex(3)}")
    sunday, monday = date(2023, 3, 5), date(2023, 3, 6)

    def scans_by(params: dict[str, str]) -> int:
        answer = api.get("/api/admin/reports", params=params)
        assert answer.status_code == 200, answer.text
        return sum(w["scans"] for w in answer.json()["worker_activity"] if w["worker"] == night.name)

    assert scans_by({"from": str(sunday), "to": str(sunday), "tz": "America/New_York"}) == 2
    assert scans_by({"from": str(sunday), "to": str(sunday)}) == 0  # UTC by default: that is Monday
    assert scans_by({"from": str(monday), "to": str(monday), "tz": "UTC"}) == 2
    weeks = api.get("/api/admin/reports", params={"from": "2023-02-27", "to": "2023-03-12",
                                                  "tz": "America/New_York"}).json()["shipments_per_week"]
    assert [w["week"] for w in weeks] == ["2023-02-27", "2023-03-06"]  # Mondays, local
    assert weeks[0]["shipped"] >= 2  # Sunday night, local: the week that began on 27 February


@pytest.mark.parametrize("params, detail", [
    ({"from": "2024-03-02", "to": "2024-03-01"}, "must not be after"),
    ({"from": "2019-01-01", "to": "2024-01-01"}, "at most"),
    ({"from": "yesterday"}, "from"),
    ({"to": "0"}, "to"),  # once read as 1970-01-01
    ({"tz": "Mars/Olympus_Mons"}, "tz"),
])
def test_a_bad_report_range_is_a_problem(api: httpx.Client, params: dict[str, str], detail: str) -> None:
    answer = api.get("/api/admin/reports", params=params)
    assert answer.status_code in (400, 422)
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert detail in answer.text
