"""Alerts end to end: rules through the API -> source events (cylinder scans) -> the Faust alert agents -> the
alerts read model; acknowledgement with expiry, acknowledge-all, summary, silences (mute and skip_evaluation),
resolve, manual alerts, rule versions, bad input, and `opsledger alerts tail`."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.helpers.support import ROOT, Stack, wait_until

PROBLEM = "application/problem+json"


def now() -> datetime:
    return datetime.now(UTC)


def new_rule(api: httpx.Client, **params: Any) -> str:
    rule_id = f"cyl-{secrets.token_hex(4)}"
    body = {"rule_id": rule_id, "name": f"Rejected scans {rule_id}", "severity": "high", "labels": {"team": "depot"},
            "params": {"kind": "cylinder", "event_types": ["ScanRejected"], "clear_event_types": ["CylinderShipped"],
                       **params}}
    made = api.post("/api/alerts/rules", params={"wait": "true"}, json=body)
    assert made.status_code == 201, made.text
    return rule_id


def new_cylinder(api: httpx.Client) -> str:
    added = api.post("/api/cylinders/add", params={"wait": "true"}, json={"count": 1, "location": "Alert depot"})
    assert added.status_code == 200, added.text
    return str(added.json()["qr_codes"][0])


def scan(api: httpx.Client, code: str, action: str, counterparty: str | None = None) -> str:
    body = {"scans": [{"client_scan_id": str(uuid.uuid4()), "qr_code": code, "action": action,
                       "counterparty": counterparty, "scanned_at": now().isoformat()}]}
    answer = api.post("/api/scans", params={"wait": "true"}, json=body)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["outcomes"][0]["outcome"])


def alerts_of(api: httpx.Client, **filters: Any) -> list[dict[str, Any]]:
    answer = api.get("/api/alerts/", params=filters)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def one_alert(api: httpx.Client, rule_id: str, **expect: Any) -> dict[str, Any]:
    """The rule's only alert, once it shows `expect` (e.g. status="firing")."""
    def found() -> dict[str, Any] | None:
        items = alerts_of(api, rule=rule_id)
        assert len(items) <= 1, items
        if items and all(items[0][k] == v for k, v in expect.items()):
            return items[0]
        return None
    return wait_until(found, timeout=20, what=f"the alert of {rule_id} with {expect}")


def history_types(api: httpx.Client, alert_id: str) -> list[str]:
    return [h["type"] for h in api.get(f"/api/alerts/{alert_id}").json()["history"]]


def test_a_rejected_scan_raises_one_alert_ack_expires_then_a_shipment_resolves_it(api: httpx.Client) -> None:
    rule_id, code = new_rule(api), new_cylinder(api)
    assert scan(api, code, "return", "Nobody") == "ScanRejected"  # an available cylinder cannot come back
    alert = one_alert(api, rule_id, status="firing")
    assert (alert["subject"], alert["severity"], alert["labels"]["qr_code"]) == (code, "high", code)
    assert alert["labels"]["team"] == "depot" and alert["summary"].startswith("Rejected scans")
    assert scan(api, code, "refill_receive", "North fill") == "ScanRejected"  # same fingerprint: no second alert
    time.sleep(1)
    assert len(alerts_of(api, rule=rule_id)) == 1

    until = now() + timedelta(seconds=2)
    acked = api.post(f"/api/alerts/{alert['alert_id']}/acknowledge", params={"wait": "true"},
                     json={"note": "looking at the handheld", "until": until.isoformat()})
    assert acked.status_code == 200, acked.text
    assert (acked.json()["status"], acked.json()["ack_by"], acked.json()["ack_note"]) == (
        "acknowledged", "test-admin", "looking at the handheld")
    # the ack expires while the alert still fires: shown again
    again = one_alert(api, rule_id, status="firing", acknowledged=False)
    assert datetime.fromisoformat(again["ack_until"]) == until

    assert scan(api, code, "ship", "Acme") == "CylinderShipped"
    resolved = one_alert(api, rule_id, status="resolved")
    assert resolved["resolve_reason"] == "cleared"
    assert history_types(api, alert["alert_id"]) == ["AlertRaised", "AlertAcknowledged", "AlertUnacknowledged",
                                                     "AlertResolved"]
    refused = api.post(f"/api/alerts/{alert['alert_id']}/acknowledge", json={"note": "too late"})
    assert refused.status_code == 409 and refused.headers["content-type"].startswith(PROBLEM)


def test_a_mute_silence_marks_the_alert_silenced_and_it_stays_visible(api: httpx.Client) -> None:
    rule_id, code = new_rule(api), new_cylinder(api)
    silence = api.post("/api/silences", json={"matchers": [{"label": "rule_id", "value": rule_id}],
                                              "ends_at": (now() + timedelta(hours=1)).isoformat(),
                                              "comment": "depot move"})
    assert silence.status_code == 202, silence.text
    silence_id = silence.headers["Location"].rsplit("/", 1)[-1]
    shown = api.get(f"/api/silences/{silence_id}", params={"after": silence.json()["consistency_token"]})
    assert (shown.json()["state"], shown.json()["mode"]) == ("active", "mute")
    assert scan(api, code, "return", "Nobody") == "ScanRejected"
    alert = one_alert(api, rule_id, status="firing")
    assert alert["silenced"] and alert["silenced_by"] == silence_id
    assert [a["alert_id"] for a in alerts_of(api, rule=rule_id, silenced=True)] == [alert["alert_id"]]

    ended = api.delete(f"/api/silences/{silence_id}")
    assert ended.status_code == 202, ended.text
    shown = api.get(f"/api/silences/{silence_id}", params={"after": ended.json()["consistency_token"]})
    assert (shown.json()["state"], shown.json()["end_reason"]) == ("ended", "deleted")
    assert api.delete(f"/api/silences/{silence_id}").status_code == 409
    assert not one_alert(api, rule_id, silenced=False)["silenced"]
    assert history_types(api, alert["alert_id"])[-1] == "AlertUnsilenced"


def test_a_skip_evaluation_silence_suppresses_raising(api: httpx.Client) -> None:
    skipped, watched, code = new_rule(api), new_rule(api), new_cylinder(api)
    made = api.post("/api/silences", json={"matchers": [{"label": "rule_id", "value": skipped}],
                                           "ends_at": (now() + timedelta(hours=1)).isoformat(),
                                           "mode": "skip_evaluation"})
    assert made.status_code == 202, made.text
    assert scan(api, code, "return", "Nobody") == "ScanRejected"
    one_alert(api, watched, status="firing")  # the same event, another rule: it was evaluated
    time.sleep(1.5)
    assert alerts_of(api, rule=skipped) == []


def test_manual_alerts_acknowledge_all_and_summary(api: httpx.Client) -> None:
    device = f"sw-{secrets.token_hex(4)}"
    before = api.get("/api/alerts/summary").json()
    raised = []
    for port in ("ge-0/0/1", "ge-0/0/2", "ge-0/0/3"):
        made = api.post("/api/alerts/", params={"wait": "true"}, json={
            "subject": f"{device}/{port}", "severity": "critical", "summary": f"{port} down (reported by phone)",
            "labels": {"device": device}})
        assert made.status_code == 201, made.text
        assert (made.json()["rule_id"], made.json()["status"]) == (None, "firing")
        raised.append(made.json())
    duplicate = api.post("/api/alerts/", params={"wait": "true"}, json={
        "subject": f"{device}/ge-0/0/1", "severity": "critical", "summary": "again", "labels": {"device": device}})
    assert duplicate.status_code == 409, duplicate.text  # the same subject and labels: the alert already firing

    middle = api.get("/api/alerts/summary").json()
    assert middle["by_severity"]["critical"]["firing"] == before["by_severity"]["critical"]["firing"] + 3
    assert middle["oldest_unacknowledged"] is not None

    acked = api.post("/api/alerts/acknowledge-all", json={"filter": {"device": device}, "note": "known outage"})
    assert acked.status_code == 202, acked.text
    assert acked.json()["accepted"] == 3 and sorted(acked.json()["alert_ids"]) == sorted(a["alert_id"] for a in raised)
    listed = api.get("/api/alerts/", params={"device": device, "after": acked.json()["consistency_token"]}).json()
    assert {a["status"] for a in listed["items"]} == {"acknowledged"}
    assert {a["ack_note"] for a in listed["items"]} == {"known outage"}
    after = api.get("/api/alerts/summary").json()
    assert after["by_severity"]["critical"]["acknowledged"] == before["by_severity"]["critical"]["acknowledged"] + 3
    assert after["by_state"]["acknowledged"] >= 3

    page = api.get("/api/alerts/", params={"device": device, "limit": 2}).json()
    rest = api.get("/api/alerts/", params={"device": device, "limit": 2, "cursor": page["next_cursor"]}).json()
    assert len(page["items"]) == 2 and len(rest["items"]) == 1 and rest["next_cursor"] is None
    done = api.post(f"/api/alerts/{raised[0]['alert_id']}/resolve", params={"wait": "true"})
    assert done.status_code == 200 and done.json()["resolve_reason"] == "manual"
    assert api.get("/api/alerts/", params={"device": device, "state": "resolved"}).json()["items"][0][
        "alert_id"] == raised[0]["alert_id"]


def test_two_system_wide_incidents_with_different_labels_both_fire(api: httpx.Client) -> None:
    """A manual alert is identified by its subject and its whole label set (DOMAIN.md), as Alertmanager dedups."""
    run = secrets.token_hex(4)

    def system_alert(incident: str, summary: str) -> httpx.Response:
        return api.post("/api/alerts/", params={"wait": "true"}, json={
            "severity": "critical", "summary": summary, "labels": {"incident": incident, "run": run}})

    power, cooling = system_alert("power", "UPS on battery"), system_alert("cooling", "CRAC 2 failed")
    assert (power.status_code, cooling.status_code) == (201, 201), (power.text, cooling.text)
    assert power.json()["alert_id"] != cooling.json()["alert_id"]
    assert power.json()["subject"] == cooling.json()["subject"] == "system"
    again = system_alert("power", "UPS still on battery")
    assert again.status_code == 409 and again.headers["content-type"].startswith(PROBLEM), again.text
    firing = alerts_of(api, subject="system", state="firing")
    assert {power.json()["alert_id"], cooling.json()["alert_id"]} <= {a["alert_id"] for a in firing}
    for made in (power, cooling):
        assert api.post(f"/api/alerts/{made.json()['alert_id']}/resolve", params={"wait": "true"}).status_code == 200


def test_rules_crud_with_versions(api: httpx.Client) -> None:
    rule_id = f"hot-{secrets.token_hex(4)}"
    body: dict[str, Any] = {"rule_id": rule_id, "name": "Uplink hot", "severity": "medium", "params": {
        "kind": "metric_threshold", "metric": "utilisation", "raise_above": 80, "clear_below": 60, "for_s": 30}}
    made = api.post("/api/alerts/rules", params={"wait": "true"}, json=body)
    assert made.status_code == 201 and made.headers["ETag"] == '"1"', made.text
    assert api.post("/api/alerts/rules", json=body).status_code == 409
    read = api.get(f"/api/alerts/rules/{rule_id}")
    assert read.json()["params"]["raise_above"] == 80 and read.headers["ETag"] == '"1"'
    change = {k: v for k, v in body.items() if k != "rule_id"} | {"severity": "critical"}
    assert api.put(f"/api/alerts/rules/{rule_id}", json=change).status_code == 428
    assert api.put(f"/api/alerts/rules/{rule_id}", json=change, headers={"If-Match": '"7"'}).status_code == 412
    changed = api.put(f"/api/alerts/rules/{rule_id}", params={"wait": "true"}, json=change,
                      headers={"If-Match": '"1"'})
    assert changed.status_code == 200 and changed.json()["version"] == 2 and changed.json()["severity"] == "critical"
    assert rule_id in [r["rule_id"] for r in api.get("/api/alerts/rules").json()]
    assert api.delete(f"/api/alerts/rules/{rule_id}", headers={"If-Match": '"1"'}).status_code == 412
    gone = api.delete(f"/api/alerts/rules/{rule_id}", params={"wait": "true"}, headers={"If-Match": '"2"'})
    assert gone.status_code == 200, gone.text
    assert api.get(f"/api/alerts/rules/{rule_id}").status_code == 404
    assert rule_id not in [r["rule_id"] for r in api.get("/api/alerts/rules").json()]


def test_deleting_a_rule_resolves_its_alerts(api: httpx.Client) -> None:
    rule_id, code = new_rule(api), new_cylinder(api)
    assert scan(api, code, "return", "Nobody") == "ScanRejected"
    one_alert(api, rule_id, status="firing")
    assert api.delete(f"/api/alerts/rules/{rule_id}").status_code == 202
    assert one_alert(api, rule_id, status="resolved")["resolve_reason"] == "rule_deleted"


FUTURE = (datetime(2030, 1, 1, tzinfo=UTC)).isoformat()
BAD_INPUT = [
    ("POST", "/api/alerts/rules", {"name": "x", "severity": "high", "params": {
        "kind": "metric_threshold", "metric": "utilisation", "raise_above": 80, "raise_below": 10}}),
    ("POST", "/api/alerts/rules", {"name": "x", "severity": "urgent", "params": {"kind": "camera_down"}}),
    ("POST", "/api/alerts/rules", {"name": "x", "severity": "high", "params": {"kind": "cylinder", "event_types": []}}),
    ("POST", "/api/alerts/rules", {"rule_id": "Not A Slug", "name": "x", "severity": "high",
                                   "params": {"kind": "camera_down"}}),
    ("POST", "/api/silences", {"matchers": [{"label": "device", "value": "sw1"}]}),  # no end
    ("POST", "/api/silences", {"matchers": [{"label": "device", "value": "sw1"}], "starts_at": FUTURE,
                               "ends_at": "2029-01-01T00:00:00+00:00"}),
    ("POST", "/api/silences", {"matchers": [{"label": "device", "value": "sw1"}],
                               "ends_at": "2001-01-01T00:00:00+00:00"}),
    ("POST", "/api/silences", {"matchers": [{"label": "device", "op": "=~", "value": ".*"}], "ends_at": FUTURE}),
    ("POST", "/api/silences", {"matchers": [{"label": "device", "op": "=~", "value": "(("}], "ends_at": FUTURE}),
    ("POST", "/api/silences", {"matchers": [{"label": "device", "value": "x"}], "ends_at": FUTURE, "recurrence": {
        "every": "daily", "timezone": "Mars/Olympus", "start": "02:00", "end": "04:00"}}),
    ("POST", "/api/silences", {"matchers": [{"label": "device", "value": "x\u0000"}], "ends_at": FUTURE}),
    ("POST", "/api/alerts/", {"severity": "critical", "summary": ""}),
    ("POST", "/api/alerts/", {"severity": "critical", "summary": "x", "labels": {"bad label": "x"}}),
    ("POST", "/api/alerts/acknowledge-all", {"until": "2001-01-01T00:00:00+00:00"}),
    ("POST", "/api/alerts/acknowledge-all", {"filter": {"colour": "red"}}),
    ("POST", f"/api/alerts/{uuid.uuid4()}/acknowledge", {}),
    ("GET", "/api/alerts/?cursor=not-a-cursor", None),
    ("GET", "/api/alerts/?state=sleeping", None),
    ("GET", "/api/alerts/not-a-uuid", None),
    ("GET", "/api/silences/not-a-uuid", None),
    ("DELETE", f"/api/silences/{uuid.uuid4()}", None),
    ("PUT", "/api/alerts/rules/no-such-rule", {"name": "x", "severity": "high", "params": {"kind": "camera_down"}}),
]


@pytest.mark.parametrize(("method", "path", "body"), BAD_INPUT, ids=[f"{m} {p} {i}" for i, (m, p, _) in
                                                                       enumerate(BAD_INPUT)])
def test_bad_input_is_a_problem_never_a_crash(api: httpx.Client, method: str, path: str, body: Any) -> None:
    answer = api.request(method, path, json=body, headers={"If-Match": '"1"'} if method == "PUT" else None)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)


def test_operators_act_on_alerts_but_only_admins_manage_rules(stack: Stack) -> None:
    with httpx.Client(base_url=stack.api_url, headers=stack.user("operator"), timeout=15) as operator:
        assert operator.get("/api/alerts/rules").status_code == 403
        made = operator.post("/api/alerts/", json={"subject": f"op-{secrets.token_hex(3)}", "severity": "low",
                                                   "summary": "fan noise"})
        assert made.status_code == 202, made.text


def test_alerts_tail_prints_lifecycle_events(stack: Stack, api: httpx.Client) -> None:
    subject = f"tail-{secrets.token_hex(4)}"
    proc = subprocess.Popen([sys.executable, "-m", "infra.entry.cli", "alerts", "tail", "--from-beginning", "--json"],
                            cwd=ROOT, env=stack.env(), stdout=subprocess.PIPE, text=True)
    try:
        made = api.post("/api/alerts/", json={"subject": subject, "severity": "low", "summary": "tail me"})
        assert made.status_code == 202, made.text
        assert proc.stdout is not None
        for line in proc.stdout:
            event = json.loads(line)
            if event.get("subject") == subject:
                assert (event["type"], event["severity"], event["summary"]) == ("AlertRaised", "low", "tail me")
                break
    finally:
        proc.terminate()
        proc.wait(10)
