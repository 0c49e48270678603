"""Cylinders end to end: scans through HTTP -> Faust state machine -> read models, balances as of any moment."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from producers.cylinders.qrcodes import new_code
from tests.helpers.support import Stack

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def worker(stack: Stack) -> httpx.Client:
    return httpx.Client(base_url=stack.api_url, headers=stack.user("worker"), timeout=30)


def add_cylinders(api: httpx.Client, count: int) -> list[str]:
    added = api.post("/api/cylinders/add", params={"wait": "true"}, json={"count": count, "location": "Depot 1"})
    assert added.status_code == 200, added.text
    assert {o["outcome"] for o in added.json()["outcomes"]} == {"CylinderAdded"}
    return list(added.json()["qr_codes"])


def scan(client: httpx.Client, code: str, action: str, at: datetime, who: str | None = None,
         scan_id: str | None = None) -> dict[str, str]:
    body = {"scans": [{"client_scan_id": scan_id or str(uuid.uuid4()), "qr_code": code, "action": action,
                       "counterparty": who, "scanned_at": at.isoformat()}]}
    answer = client.post("/api/scans", params={"wait": "true"}, json=body)
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["outcomes"][0])


def test_a_full_cycle_with_a_rejection_and_a_custody_correction(api: httpx.Client, worker: httpx.Client) -> None:
    code, = add_cylinders(api, 1)
    acme, bolt = f"Acme {secrets.token_hex(3)}", f"Bolt {secrets.token_hex(3)}"
    assert scan(worker, code, "ship", T0, acme)["outcome"] == "CylinderShipped"
    rejected = scan(worker, code, "ship", T0 + timedelta(hours=1), bolt)
    assert rejected["outcome"] == "ScanRejected" and "available" in rejected["reason"]
    assert api.get(f"/api/customers/{acme}/balance").json()["qr_codes"] == [code]
    assert scan(worker, code, "return", T0 + timedelta(days=3), bolt)["outcome"] == "CylinderReturned"
    assert scan(worker, code, "refill_send", T0 + timedelta(days=4), "North fill")["outcome"] == "CylinderSentToRefill"
    assert scan(worker, code, "refill_receive", T0 + timedelta(days=5), "North fill")["outcome"] == "CylinderRefilled"

    cylinder = api.get(f"/api/cylinders/{code}").json()
    assert (cylinder["status"], cylinder["holder"], cylinder["last_action"]) == ("available", None, "refill_receive")
    assert cylinder["last_rejection"].startswith("ship:")
    history = [h["type"] for h in api.get(f"/api/cylinders/{code}/history").json()]
    assert history == ["CylinderAdded", "CylinderShipped", "ScanRejected", "CustodyCorrected", "CylinderReturned",
                       "CylinderSentToRefill", "CylinderRefilled"]
    # time travel: Acme held it from the shipment until Bolt brought it back; Bolt never did
    during = (T0 + timedelta(days=1)).isoformat()
    assert api.get(f"/api/customers/{acme}/balance", params={"as_of": during}).json()["count"] == 1
    assert api.get(f"/api/customers/{acme}/balance", params={"as_of": (T0 - timedelta(days=1)).isoformat()}
                   ).json()["count"] == 0
    assert api.get(f"/api/customers/{acme}/balance").json()["count"] == 0
    assert api.get(f"/api/customers/{bolt}/balance", params={"as_of": during}).json()["count"] == 0


def test_a_repeated_client_scan_id_is_harmless(api: httpx.Client, worker: httpx.Client) -> None:
    code, = add_cylinders(api, 1)
    customer = f"Cafe {secrets.token_hex(3)}"
    first = scan(worker, code, "ship", T0, customer, scan_id="handheld-42-0001")
    again = scan(worker, code, "ship", T0, customer, scan_id="handheld-42-0001")
    assert first == again  # the same outcome, not a second shipment nor a rejection
    assert [h["type"] for h in api.get(f"/api/cylinders/{code}/history").json()] == ["CylinderAdded",
                                                                                     "CylinderShipped"]


def test_wrappers_take_many_codes_and_workers_cannot_add_or_trash(api: httpx.Client, worker: httpx.Client) -> None:
    codes = add_cylinders(api, 3)
    customer = f"Dock {secrets.token_hex(3)}"
    shipped = worker.post("/api/cylinders/ship", params={"wait": "true"}, json={"qr_codes": codes,
                                                                                "counterparty": customer})
    assert shipped.status_code == 200, shipped.text
    assert [o["outcome"] for o in shipped.json()["outcomes"]] == ["CylinderShipped"] * 3
    listed = api.get("/api/cylinders", params={"holder": customer}).json()["items"]
    assert sorted(c["qr_code"] for c in listed) == sorted(codes)
    assert {"customer": customer, "count": 3} in api.get("/api/customers").json()
    assert worker.post("/api/cylinders/add", json={"count": 1}).status_code == 403
    assert worker.post("/api/cylinders/trash", json={"qr_codes": codes[:1]}).status_code == 403
    trash_scan = {"scans": [{"client_scan_id": "x", "qr_code": codes[0], "action": "trash",
                             "scanned_at": T0.isoformat()}]}
    assert worker.post("/api/scans", json=trash_scan).status_code == 403
    trashed = api.post("/api/cylinders/trash", params={"wait": "true"}, json={"qr_codes": codes[:1]})
    assert trashed.json()["outcomes"][0]["outcome"] == "CylinderTrashed"
    after = scan(worker, codes[0], "return", T0 + timedelta(days=1), customer)
    assert after["outcome"] == "ScanRejected" and "trashed" in after["reason"]


def test_unknown_codes_are_rejected_scans_and_misread_codes_are_422(worker: httpx.Client) -> None:
    unknown = scan(worker, new_code(), "ship", T0, "Nobody")
    assert unknown["outcome"] == "ScanRejected" and "no cylinder" in unknown["reason"]
    code = new_code()
    misread = code[:-1] + ("0" if code[-1] != "0" else "1")  # a wrong check character
    answer = worker.post("/api/scans", json={"scans": [{"client_scan_id": "m", "qr_code": misread, "action": "ship",
                                                         "scanned_at": T0.isoformat()}]})
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert worker.post("/api/scans", json={"scans": []}).status_code == 422
    naive = {"scans": [{"client_scan_id": "n", "qr_code": code, "action": "ship", "scanned_at": "2026-03-02T08:00"}]}
    assert worker.post("/api/scans", json=naive).status_code == 422  # scan times need a time zone


def test_qr_images_encode_the_code(api: httpx.Client) -> None:
    code, = add_cylinders(api, 1)
    svg = api.get(f"/api/cylinders/{code}/qr.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.lstrip().startswith("<?xml") or "<svg" in svg.text
    png = api.get(f"/api/cylinders/{code}/qr.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert api.get("/api/cylinders/not-a-code/qr.svg").status_code == 422


def test_inventory_and_the_shipment_log(api: httpx.Client, worker: httpx.Client) -> None:
    before = api.get("/api/admin/inventory").json()
    codes = add_cylinders(api, 2)
    customer = f"=Forge {secrets.token_hex(3)}"  # a name a spreadsheet would run as a formula
    assert scan(worker, codes[0], "ship", T0, customer)["outcome"] == "CylinderShipped"
    assert scan(worker, codes[1], "ship", T0 + timedelta(hours=1), customer)["outcome"] == "CylinderShipped"
    assert scan(worker, codes[0], "return", T0 + timedelta(days=2), customer)["outcome"] == "CylinderReturned"

    after = api.get("/api/admin/inventory").json()
    assert after["total"] == before["total"] + 2
    assert {"key": customer, "count": 1} in after["by_holder"]

    log = api.get("/api/admin/shipments", params={"customer": customer}).json()["items"]
    assert [s["qr_code"] for s in log] == [codes[1], codes[0]]  # newest first
    returned = log[1]
    assert returned["sent_by"] == returned["received_by"] and returned["returned_at"] is not None
    still_out = api.get("/api/admin/shipments", params={"customer": customer, "open_only": "true"}).json()["items"]
    assert [s["qr_code"] for s in still_out] == [codes[1]]
    page = api.get("/api/admin/shipments", params={"customer": customer, "limit": 1}).json()
    rest = api.get("/api/admin/shipments", params={"customer": customer, "limit": 1, "cursor": page["next_cursor"]})
    assert [s["qr_code"] for s in page["items"] + rest.json()["items"]] == [codes[1], codes[0]]

    csv_answer = api.get("/api/admin/shipments", params={"customer": customer, "format": "csv"})
    assert csv_answer.headers["content-type"].startswith("text/csv")
    lines = csv_answer.text.strip().splitlines()
    assert lines[0] == "qr_code,customer,shipped_at,sent_by,returned_at,received_by,returned_by"
    assert len(lines) == 3 and all(f",'{customer}," in line for line in lines[1:])  # formula neutralised
    assert worker.get("/api/admin/inventory").status_code == 403


def test_the_shipments_csv_is_the_whole_filtered_export_in_one_answer(api: httpx.Client, worker: httpx.Client) -> None:
    """No paging in CSV (a "next page" link once dropped every filter but the cursor): the filters apply, every
    matching row comes in one streamed answer, whatever `limit` says."""
    codes = add_cylinders(api, 7)
    ours, theirs = f"Ridge {secrets.token_hex(3)}", f"Other {secrets.token_hex(3)}"
    for n, code in enumerate(codes[:5]):
        assert scan(worker, code, "ship", T0 + timedelta(hours=n), ours)["outcome"] == "CylinderShipped"
    for code in codes[5:]:
        assert scan(worker, code, "ship", T0, theirs)["outcome"] == "CylinderShipped"
    assert scan(worker, codes[0], "return", T0 + timedelta(days=1), ours)["outcome"] == "CylinderReturned"

    answer = api.get("/api/admin/shipments", params={"customer": ours, "open_only": "true", "format": "csv",
                                                     "limit": 2})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv"), answer.text
    assert "link" not in answer.headers
    rows = answer.text.strip().splitlines()
    assert rows[0].startswith("qr_code,customer,")
    assert [row.split(",")[0] for row in rows[1:]] == list(reversed(codes[1:5]))  # open ones only, newest first
    window = api.get("/api/admin/shipments", params={
        "customer": ours, "format": "csv", "shipped_from": (T0 + timedelta(hours=1)).isoformat(),
        "shipped_to": (T0 + timedelta(hours=3)).isoformat()})
    assert [row.split(",")[0] for row in window.text.strip().splitlines()[1:]] == [codes[2], codes[1]]


def test_a_label_sheet_holds_every_code_as_a_readable_qr(api: httpx.Client) -> None:
    import xml.etree.ElementTree as ET

    codes = add_cylinders(api, 4)
    sheet = api.get("/api/cylinders/labels.svg", params=[("codes", c) for c in codes])
    assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(sheet.content)  # well-formed XML
    ns = "{http://www.w3.org/2000/svg}"
    assert [t.text for t in root.iter(f"{ns}text")] == codes
    assert len(list(root.iter(f"{ns}svg"))) == 1 + len(codes)  # the sheet and one QR symbol per label
    assert root.get("height") == "500"  # two rows of three
    bad = api.get("/api/cylinders/labels.svg", params={"codes": "not-a-code"})
    assert bad.status_code == 422


def test_a_read_with_the_scan_token_sees_the_state_the_scans_set(api: httpx.Client, worker: httpx.Client) -> None:
    codes = add_cylinders(api, 30)
    customer = f"Dune {secrets.token_hex(3)}"
    body = {"scans": [{"client_scan_id": str(uuid.uuid4()), "qr_code": c, "action": "ship", "counterparty": customer,
                       "scanned_at": T0.isoformat()} for c in codes]}
    for _ in range(3):  # no ?wait: the command returns as soon as the scans are recorded, before any decision
        sent = worker.post("/api/scans", json=body)
        assert sent.status_code == 202 and sent.json()["outcomes"] is None
        token = sent.headers["Opsledger-Consistency"]

        listed = worker.get("/api/cylinders", params={"holder": customer, "limit": 100},
                            headers={"Opsledger-Consistency": token})
        one = worker.get(f"/api/cylinders/{codes[-1]}", params={"after": token})
        balance = worker.get(f"/api/customers/{customer}/balance", headers={"Opsledger-Consistency": token})

        assert sorted(c["qr_code"] for c in listed.json()["items"]) == sorted(codes)
        assert one.json()["status"] == "sent"
        assert balance.json()["count"] == 30
        body = {"scans": [{**s, "client_scan_id": str(uuid.uuid4())} for s in body["scans"]]}  # rejected ones too
