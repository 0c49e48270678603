"""Every time a request carries says its offset: a zone-less datetime would be read in the server's zone, so it is
refused (422 naming the field), as are numbers once read as seconds since 1970. Dates are ISO calendar dates."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from producers.cylinders.qrcodes import new_code

PROBLEM = "application/problem+json"
DEVICE = uuid.uuid4()  # no such device: the parameters are refused before the lookup

# (path, time parameter) of every filter, report and body field that takes a moment
QUERY_TIMES = [
    ("/api/ingress", "submitted_from"), ("/api/ingress", "submitted_to"),
    ("/api/events", "recorded_from"), ("/api/events", "recorded_to"),
    ("/api/audit", "occurred_from"), ("/api/audit", "occurred_to"),
    ("/api/alerts/", "raised_from"), ("/api/alerts/", "raised_to"),
    ("/api/admin/shipments", "shipped_from"), ("/api/admin/shipments", "shipped_to"),
    ("/api/customers/Acme/balance", "as_of"),
    (f"/api/devices/{DEVICE}/interfaces/1/bandwidth", "from"), (f"/api/devices/{DEVICE}/interfaces/1/bandwidth", "to"),
]
QUERY_DAYS = [("/api/cylinders", "retest_due_before"), ("/api/admin/reports", "from"), ("/api/admin/reports", "to")]


def refused(answer: httpx.Response, name: str) -> None:
    assert answer.status_code == 422, f"{answer.request.url}: {answer.status_code} {answer.text[:300]}"
    assert answer.headers["content-type"].startswith(PROBLEM)
    assert any(name in error["loc"] for error in answer.json()["errors"]), answer.text


@pytest.mark.parametrize(("path", "name"), QUERY_TIMES, ids=[f"{p} {n}" for p, n in QUERY_TIMES])
@pytest.mark.parametrize("value", ["2026-03-02T08:00:00", "2026-03-02", "0", "1700000000", "0.5", "yesterday"])
def test_a_query_time_without_an_offset_is_refused(api: httpx.Client, path: str, name: str, value: str) -> None:
    refused(api.get(path, params={name: value}), name)


@pytest.mark.parametrize(("path", "name"), QUERY_TIMES, ids=[f"{p} {n}" for p, n in QUERY_TIMES])
def test_a_query_time_with_an_offset_is_taken(api: httpx.Client, path: str, name: str) -> None:
    recent = (datetime.now(UTC) - timedelta(minutes=30)).astimezone(timezone(timedelta(hours=1)))
    answer = api.get(path, params={name: recent.isoformat()})  # recent: a bandwidth range has at most 2,000 buckets
    assert answer.status_code in (200, 404), answer.text  # 404: the device that is not there


@pytest.mark.parametrize(("path", "name"), QUERY_DAYS, ids=[f"{p} {n}" for p, n in QUERY_DAYS])
@pytest.mark.parametrize("value", ["0", "20260302", "2026-03-02T00:00:00Z", "2026-02-30"])
def test_a_query_day_must_be_an_iso_date(api: httpx.Client, path: str, name: str, value: str) -> None:
    refused(api.get(path, params={name: value}), name)


BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("/api/scans", {"scans": [{"client_scan_id": "a", "qr_code": "CYL-0000000000000", "action": "ship",
                               "counterparty": "Acme", "scanned_at": "{t}"}]}, "scanned_at"),
    ("/api/silences", {"matchers": [{"label": "rule", "op": "=", "value": "x"}], "ends_at": "{t}",
                       "comment": "maintenance"}, "ends_at"),
    ("/api/alerts/acknowledge-all", {"filter": {}, "note": "n", "until": "{t}"}, "until"),
]


@pytest.mark.parametrize(("path", "body", "name"), BODIES, ids=[p for p, _, _ in BODIES])
@pytest.mark.parametrize("value", ["2099-03-02T08:00:00", "4102444800"])
def test_a_body_time_without_an_offset_is_refused(api: httpx.Client, path: str, body: dict[str, Any], name: str,
                                                  value: str) -> None:
    filled = httpx.Request("POST", "/", json=body).content.decode().replace("{t}", value)
    refused(api.post(path, content=filled, headers={"content-type": "application/json"}), name)


# times Python's datetime cannot take to UTC or shift by a day (year 10000 in UTC, year 1 minus an hour): a stored
# one made every read of its row fail, a filter one overflowed into a 500
EXTREME_TIMES = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00Z", "1899-12-31T23:00:00Z"]
EXTREME_DAYS = ["9999-12-31", "0001-01-01"]
SERIES_SCORES = [("/api/ml/series/ml/bench/x/scores", "from"), ("/api/ml/series/ml/bench/x/scores", "to")]


@pytest.mark.parametrize(("path", "name"), QUERY_TIMES + SERIES_SCORES,
                         ids=[f"{p} {n}" for p, n in QUERY_TIMES + SERIES_SCORES])
@pytest.mark.parametrize("value", EXTREME_TIMES)
def test_a_query_time_out_of_range_is_refused(api: httpx.Client, path: str, name: str, value: str) -> None:
    refused(api.get(path, params={name: value}), name)


@pytest.mark.parametrize(("path", "name"), QUERY_DAYS, ids=[f"{p} {n}" for p, n in QUERY_DAYS])
@pytest.mark.parametrize("value", EXTREME_DAYS)
def test_a_query_day_out_of_range_is_refused(api: httpx.Client, path: str, name: str, value: str) -> None:
    refused(api.get(path, params={name: value}), name)


@pytest.mark.parametrize(("path", "body", "name"), [*BODIES, (
    "/api/ml/series/ml/bench/x/points", {"points": [{"t": "{t}", "value": 1.0}]}, "t")],
    ids=[p for p, _, _ in BODIES] + ["ml points"])
@pytest.mark.parametrize("value", EXTREME_TIMES)
def test_a_body_time_out_of_range_is_refused(api: httpx.Client, path: str, body: dict[str, Any], name: str,
                                             value: str) -> None:
    filled = httpx.Request("POST", "/", json=body).content.decode().replace("{t}", value)
    refused(api.post(path, content=filled, headers={"content-type": "application/json"}), name)


def test_a_scan_from_the_future_is_refused_and_a_fast_clock_is_not(api: httpx.Client) -> None:
    """A scan dated ahead would stay the cylinder's last scan, so the cylinder would never be overdue or lost."""
    def scan(at: datetime) -> httpx.Response:
        return api.post("/api/scans", json={"scans": [{"client_scan_id": str(uuid.uuid4()), "qr_code": new_code(),
                                                       "action": "add", "scanned_at": at.isoformat()}]})
    refused(scan(datetime.now(UTC) + timedelta(hours=1)), "scanned_at")
    assert scan(datetime.now(UTC) + timedelta(minutes=2)).status_code == 202
