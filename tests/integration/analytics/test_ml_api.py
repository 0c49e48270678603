"""The ML interface through HTTP against the real processors and projections: bad input is a 4xx problem+json
(never a 5xx), an unsorted batch is sorted, and a repeated (series, t) keeps the first value received."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)  # inside the raw points' 48 h


def at(minutes: int, zone: bool = True) -> str:
    text = (BASE + timedelta(minutes=minutes)).isoformat()
    return text if zone else text.removesuffix("+00:00")


def new_series(tag: str) -> str:
    return f"ml/test/{tag}-{uuid.uuid4().hex[:8]}"


def assert_problem(response: httpx.Response) -> dict[str, Any]:
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == response.status_code and body["title"] and body["detail"]
    return body


RAW_BAD = {
    "NaN": b'{"points": [{"t": "%s", "value": NaN}]}',
    "infinite": b'{"points": [{"t": "%s", "value": 1e999}]}',
    "-Infinity": b'{"points": [{"t": "%s", "value": -Infinity}]}',
}


@pytest.mark.parametrize("case", sorted(RAW_BAD))
def test_a_value_that_is_not_a_finite_number_is_refused(api: httpx.Client, case: str) -> None:
    body = RAW_BAD[case] % at(0).encode()
    sent = api.post(f"/api/ml/series/{new_series('nan')}/points", content=body,
                    headers={"content-type": "application/json"})
    assert_problem(sent)


@pytest.mark.parametrize("points", [
    [{"t": "yesterday", "value": 1.0}],
    [{"t": at(0, zone=False), "value": 1.0}],  # no time zone: which instant is meant?
    [{"t": 1_700_000_000, "value": 1.0}],
    [{"t": at(0), "value": "high"}],
    [{"t": at(0)}],
    [],
    [{"t": at(i % 600), "value": 1.0} for i in range(10_001)],  # one more than a batch may carry
])
def test_bad_points_are_refused(api: httpx.Client, points: list[dict[str, Any]]) -> None:
    assert_problem(api.post(f"/api/ml/series/{new_series('bad')}/points", json={"points": points}))


@pytest.mark.parametrize("series", ["ml/bad key", "ml//x", "ml/" + "a" * 250, "ml/" + "/".join("s" * 17),
                                    "device/x/if/1/in_bps"])
def test_a_malformed_or_foreign_series_key_is_refused(api: httpx.Client, series: str) -> None:
    assert_problem(api.post(f"/api/ml/series/{series}/points", json={"points": [{"t": at(0), "value": 1.0}]}))
    if not series.startswith("device/"):
        assert_problem(api.get(f"/api/ml/series/{series}/scores"))


def test_a_bad_predict_request_is_refused(api: httpx.Client) -> None:
    assert_problem(api.post("/api/ml/predict", json={"series": "ml/x y", "horizon": 5}))
    assert_problem(api.post("/api/ml/predict", json={"series": new_series("p"), "horizon": 0}))
    assert_problem(api.post("/api/ml/predict", json={"series": new_series("p"), "horizon": 5, "extra": 1}))


def scores(api: httpx.Client, series: str, token: str) -> list[tuple[str, float]]:
    page = api.get(f"/api/ml/series/{series}/scores", params={"after": token, "from": at(-10), "to": at(60)})
    assert page.status_code == 200, page.text
    return [(item["t"], item["value"]) for item in page.json()["items"]]


def test_an_unsorted_batch_is_sorted_and_a_repeated_time_keeps_the_first_value(api: httpx.Client) -> None:
    series = new_series("order")
    sent = api.post(f"/api/ml/series/{series}/points", json={"points": [
        {"t": at(2), "value": 3.0}, {"t": at(0), "value": 1.0}, {"t": at(1), "value": 2.0},
        {"t": at(0), "value": 99.0}]})
    assert sent.status_code == 202, sent.text
    first = scores(api, series, sent.json()["consistency_token"])
    assert [value for _, value in first] == [1.0, 2.0, 3.0]
    assert [datetime.fromisoformat(t) for t, _ in first] == [BASE + timedelta(minutes=m) for m in range(3)]

    again = api.post(f"/api/ml/series/{series}/points", json={"points": [{"t": at(1), "value": 77.0},
                                                                         {"t": at(3), "value": 4.0}]})
    assert again.status_code == 202, again.text
    assert [value for _, value in scores(api, series, again.json()["consistency_token"])] == [1.0, 2.0, 3.0, 4.0]
