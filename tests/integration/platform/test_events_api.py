"""The event archive, the AsyncAPI catalogue, health, readiness and metrics through HTTP."""

from __future__ import annotations

import concurrent.futures
import uuid
from typing import Any

import httpx
import pytest

from tests.helpers.factories import reading_body
from tests.helpers.support import Stack, lags

LIFE = ["IngressReadingSubmitted", "IngressReadingCorrected", "IngressReadingRetracted"]


def submitted(api: httpx.Client) -> dict[str, Any]:
    accepted = api.post("/api/ingress", json=reading_body(node_id=f"N-EV-{uuid.uuid4().hex[:8]}"))
    assert accepted.status_code == 202, accepted.text
    return accepted.json()


def lived(api: httpx.Client) -> tuple[str, str]:
    """A reading submitted, corrected and retracted: (its id, the token of the last command)."""
    reading = api.post("/api/ingress", params={"wait": "true"}, json=reading_body())
    assert reading.status_code == 201, reading.text
    location = f"/api/ingress/{reading.json()['id']}"
    corrected = api.put(location, params={"wait": "true"}, headers={"If-Match": '"1"'},
                        json=reading_body(level_dbmv=-44.0))
    assert corrected.status_code == 201, corrected.text
    retracted = api.delete(location, headers={"If-Match": '"2"'})
    assert retracted.status_code == 202, retracted.text
    return reading.json()["id"], retracted.headers["Opsledger-Consistency"]


def events(api: httpx.Client, **params: Any) -> dict[str, Any]:
    page = api.get("/api/events", params=params)
    assert page.status_code == 200, page.text
    return page.json()


def types(page: dict[str, Any]) -> list[str]:
    return [item["type"] for item in page["items"]]


def test_a_submitted_reading_is_in_the_archive(api: httpx.Client) -> None:
    accepted = submitted(api)
    page = events(api, subject=accepted["subject"], after=accepted["consistency_token"])
    assert len(page["items"]) == 1
    item = page["items"][0]
    assert item["type"] == "IngressReadingSubmitted"
    assert item["event_id"] == accepted["event_id"]
    assert item["subject"] == accepted["subject"]
    assert item["topic"] == "ingress.readings"
    assert isinstance(item["partition"], int) and item["partition"] >= 0
    assert isinstance(item["offset"], int) and item["offset"] >= 0
    envelope = item["envelope"]
    assert envelope["event_id"] == accepted["event_id"]
    assert envelope["type"] == "IngressReadingSubmitted"
    assert envelope["data"]["reading_id"] == accepted["subject"]
    assert envelope["data"]["reading"]["level_dbmv"] == -25.0
    assert item["raw_base64"] is None

    one = api.get(f"/api/events/{accepted['event_id']}")
    assert one.status_code == 200, one.text
    assert one.json() == item


def test_filters_by_type_and_topic(api: httpx.Client) -> None:
    subject, token = lived(api)
    corrected = events(api, subject=subject, type="IngressReadingCorrected", after=token)
    assert types(corrected) == ["IngressReadingCorrected"]
    assert corrected["items"][0]["envelope"]["data"]["version"] == 2
    assert types(events(api, subject=subject, topic="ingress.readings", order="oldest")) == LIFE
    assert events(api, subject=subject, topic="files")["items"] == []
    assert events(api, subject=subject, type="FileUploaded")["items"] == []


def test_oldest_and_newest_order(api: httpx.Client) -> None:
    subject, token = lived(api)
    assert types(events(api, subject=subject, order="oldest", after=token)) == LIFE
    assert types(events(api, subject=subject, order="newest")) == list(reversed(LIFE))
    assert types(events(api, subject=subject)) == list(reversed(LIFE))  # newest is the default


@pytest.mark.parametrize("order", ["oldest", "newest"])
def test_cursor_paging_visits_each_event_once(api: httpx.Client, order: str) -> None:
    subject, token = lived(api)
    seen: list[str] = []
    params: dict[str, Any] = {"subject": subject, "order": order, "limit": 1, "after": token}
    for _ in range(10):
        page = events(api, **params)
        seen += types(page)
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == (LIFE if order == "oldest" else list(reversed(LIFE)))


def test_an_unknown_event_is_404(api: httpx.Client) -> None:
    missing = api.get(f"/api/events/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["status"] == 404


def test_asyncapi_lists_the_ingress_channel(api: httpx.Client) -> None:
    document = api.get("/asyncapi.json")
    assert document.status_code == 200
    body = document.json()
    assert body["asyncapi"] == "3.0.0"
    addresses = {channel["address"] for channel in body["channels"].values()}
    assert {"ingress.readings", "ingress.evaluations", "files", "deadletter"} <= addresses
    readings = body["channels"]["ingressReadings"]
    assert set(LIFE) <= set(readings["messages"])
    assert set(LIFE) <= set(body["components"]["messages"])


def test_healthz(api: httpx.Client) -> None:
    health = api.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}


def test_readyz_says_ready_and_nothing_more_and_is_cached(stack: Stack) -> None:
    """/readyz is public: it answers a verdict (cached, so callers cannot multiply the broker and database work it
    costs), never lags, topics or exception text; the figures are on the admin's /metrics."""
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: httpx.get(f"{stack.api_url}/readyz", timeout=30), range(20)))
    assert all(a.status_code == 200 for a in answers), answers[-1].text
    assert all(set(a.json()) == {"status", "checked_at"} for a in answers)
    assert len({a.json()["checked_at"] for a in answers}) <= 2  # 20 callers at once, one check (or two)


def test_metrics_report_projection_lag(api: httpx.Client) -> None:
    lag = lags(api)
    assert {"ingress", "files", "archive", "processors"} <= set(lag)
    assert all(isinstance(n, int) and n >= 0 for n in lag.values())


def test_metrics_are_prometheus_text(api: httpx.Client) -> None:
    submitted(api)  # so the API has produced at least one event
    scraped = api.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    text = scraped.text
    for name in ("opsledger_http_request_duration_seconds", "opsledger_projection_lag",
                 "opsledger_events_produced_total", "opsledger_deadlettered"):
        assert f"# TYPE {name}" in text, name
    assert 'opsledger_events_produced_total{topic="ingress.readings"}' in text
    assert 'opsledger_projection_lag{projection="ingress"}' in text
