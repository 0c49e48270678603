"""The ingress API through HTTP: the life of a reading (ETags, corrections, retraction, history) and the list's
filters, sorts and cursors, against the real processors and projections."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.helpers.factories import reading_body
from tests.helpers.support import wait_until

LOUD = {"level_dbmv": 5.0, "freq_start_mhz": 20.0, "freq_end_mhz": 30.0}  # above the default 15-42:-20 line


def new_node(tag: str) -> str:
    return f"N-{tag}-{uuid.uuid4().hex[:8]}"


def create(api: httpx.Client, **overrides: Any) -> dict[str, Any]:
    created = api.post("/api/ingress", params={"wait": "true"}, json=reading_body(**overrides))
    assert created.status_code == 201, created.text
    return created.json()


def listed(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    page = api.get("/api/ingress", params={"limit": 100, **params})
    assert page.status_code == 200, page.text
    return page.json()["items"]


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def test_a_correction_needs_the_current_etag(api: httpx.Client) -> None:
    accepted = api.post("/api/ingress", json=reading_body(node_id=new_node("etag")))
    assert accepted.status_code == 202, accepted.text
    location, token = accepted.json()["location"], accepted.json()["consistency_token"]
    assert accepted.headers["Location"] == location

    got = api.get(location, params={"after": token})
    assert got.status_code == 200, got.text
    assert got.headers["ETag"] == '"1"'
    assert got.json()["version"] == 1

    corrected = api.put(location, params={"wait": "true"}, headers={"If-Match": '"1"'},
                        json=reading_body(node_id=got.json()["node_id"], level_dbmv=-33.0))
    assert corrected.status_code == 201, corrected.text
    assert corrected.headers["ETag"] == '"2"'
    assert corrected.json()["version"] == 2
    assert corrected.json()["level_dbmv"] == -33.0

    stale = api.put(location, headers={"If-Match": '"1"'}, json=reading_body(level_dbmv=-1.0))
    assert assert_problem(stale, 412)["current_version"] == 2
    assert api.get(location).json()["level_dbmv"] == -33.0


def test_a_correction_without_if_match_is_428(api: httpx.Client) -> None:
    reading = create(api, node_id=new_node("428"))
    refused = api.put(f"/api/ingress/{reading['id']}", json=reading_body(level_dbmv=-1.0))
    assert_problem(refused, 428)


def test_a_retracted_reading_is_gone_from_reads_but_kept_in_history(api: httpx.Client) -> None:
    node = new_node("retract")
    reading = create(api, node_id=node)
    location = f"/api/ingress/{reading['id']}"
    corrected = api.put(location, params={"wait": "true"}, headers={"If-Match": '"1"'},
                        json=reading_body(node_id=node, level_dbmv=-40.0))
    assert corrected.status_code == 201, corrected.text

    retracted = api.delete(location, params={"reason": "wrong house"})
    assert retracted.status_code == 202, retracted.text
    token = retracted.headers["Opsledger-Consistency"]

    gone = assert_problem(api.get(location, params={"after": token}), 410)
    assert gone["history"] == f"{location}/history"
    assert listed(api, node_id=node) == []

    history = api.get(f"{location}/history")
    assert history.status_code == 200, history.text
    entries = history.json()
    assert [e["type"] for e in entries] == ["IngressReadingSubmitted", "IngressReadingCorrected",
                                            "IngressReadingRetracted"]
    assert [e["version"] for e in entries] == [1, 2, 3]
    assert all(e["applied"] for e in entries)
    assert entries[2]["data"]["reason"] == "wrong house"


def test_history_of_an_unknown_reading_is_404(api: httpx.Client) -> None:
    assert_problem(api.get(f"/api/ingress/{uuid.uuid4()}/history"), 404)


def test_node_id_filter_shows_only_that_node(api: httpx.Client) -> None:
    node, other = new_node("mine"), new_node("other")
    mine = [create(api, node_id=node)["id"] for _ in range(2)]
    create(api, node_id=other)
    assert sorted(ids(listed(api, node_id=node))) == sorted(mine)


@pytest.mark.parametrize(("band", "matches"), [("26-28", True), ("27-27.2", True), ("20-26.9", False),
                                               ("30-40", False)])
def test_band_filter_matches_overlapping_readings(api: httpx.Client, band: str, matches: bool) -> None:
    node = new_node("band")
    reading = create(api, node_id=node, freq_start_mhz=26.9, freq_end_mhz=27.4)
    assert ids(listed(api, node_id=node, band=band)) == ([reading["id"]] if matches else [])


def test_split_plan_filter(api: httpx.Client) -> None:
    node = new_node("split")
    sub = create(api, node_id=node, split_plan="sub")
    mid = create(api, node_id=node, split_plan="mid", freq_start_mhz=50, freq_end_mhz=60)
    assert ids(listed(api, node_id=node, split_plan="sub")) == [sub["id"]]
    assert ids(listed(api, node_id=node, split_plan="mid")) == [mid["id"]]
    assert listed(api, node_id=node, split_plan="high") == []


def test_level_range_filter_is_inclusive(api: httpx.Client) -> None:
    node = new_node("level")
    by_level = {level: create(api, node_id=node, level_dbmv=level)["id"] for level in (-45.0, -30.0, -25.5, -10.0)}
    found = listed(api, node_id=node, level_min=-30, level_max=-25.5)
    assert sorted(ids(found)) == sorted([by_level[-30.0], by_level[-25.5]])
    assert ids(listed(api, node_id=node, level_min=-10)) == [by_level[-10.0]]
    assert ids(listed(api, node_id=node, level_max=-45)) == [by_level[-45.0]]


def test_customer_filter_is_a_case_insensitive_substring(api: httpx.Client) -> None:
    node, tag = new_node("cust"), uuid.uuid4().hex[:10]
    wanted = create(api, node_id=node, customer_name=f"Okafor {tag.upper()} Household")
    create(api, node_id=node, customer_name="Someone Else")
    assert ids(listed(api, customer=tag.lower())) == [wanted["id"]]
    assert ids(listed(api, node_id=node, customer=f"okafor {tag}")) == [wanted["id"]]


def test_customer_filter_takes_like_wildcards_literally(api: httpx.Client) -> None:
    node = new_node("wild")
    percent = create(api, node_id=node, customer_name="Acme 100% Cable")
    create(api, node_id=node, customer_name="Acme 1000 Cable")
    underscore = create(api, node_id=node, customer_name="snake_case ltd")
    create(api, node_id=node, customer_name="snakeXcase ltd")
    assert ids(listed(api, node_id=node, customer="100%")) == [percent["id"]]
    assert ids(listed(api, node_id=node, customer="e_c")) == [underscore["id"]]


def test_customer_filter_takes_a_backslash_literally(api: httpx.Client) -> None:
    node = new_node("bslash")
    wanted = create(api, node_id=node, customer_name="Unit 4\\B Mill Ln")
    assert ids(listed(api, node_id=node, customer="4\\b")) == [wanted["id"]]


def test_a_loud_reading_gets_the_processors_verdict(api: httpx.Client) -> None:
    node = new_node("loud")
    loud = create(api, node_id=node, **LOUD)
    quiet = create(api, node_id=node, level_dbmv=-35.0, freq_start_mhz=20.0, freq_end_mhz=30.0)
    location = f"/api/ingress/{loud['id']}"
    verdict = wait_until(lambda: api.get(location).json()["limit_exceeded"], what="the limit verdict")
    assert verdict == {"limit_dbmv": -20.0, "exceeded_by_db": 25.0, "limit_rule": "15-42:-20"}
    assert ids(listed(api, node_id=node, exceeded="true")) == [loud["id"]]
    assert ids(listed(api, node_id=node, exceeded="false")) == [quiet["id"]]
    assert api.get(f"/api/ingress/{quiet['id']}").json()["limit_exceeded"] is None

    corrected = api.put(location, params={"wait": "true"}, headers={"If-Match": '"1"'},
                        json=reading_body(node_id=node, level_dbmv=-35.0, freq_start_mhz=20.0, freq_end_mhz=30.0))
    assert corrected.status_code == 201, corrected.text
    assert corrected.json()["limit_exceeded"] is None  # the verdict was about version 1
    assert listed(api, node_id=node, exceeded="true") == []


def test_submitted_from_is_inclusive_and_submitted_to_exclusive(api: httpx.Client) -> None:
    node = new_node("when")
    first, second = create(api, node_id=node), create(api, node_id=node)
    boundary = second["submitted_at"]
    assert ids(listed(api, node_id=node, submitted_from=boundary)) == [second["id"]]
    assert ids(listed(api, node_id=node, submitted_to=boundary)) == [first["id"]]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sort_by_level(api: httpx.Client, order: str) -> None:
    node = new_node("sort")
    for level in (-3.0, -40.0, 12.0, 0.0, -17.5):
        create(api, node_id=node, level_dbmv=level)
    levels = [r["level_dbmv"] for r in listed(api, node_id=node, sort="level_dbmv", order=order)]
    assert levels == sorted(levels, reverse=order == "desc")
    assert len(levels) == 5


def pages(api: httpx.Client, **params: Any) -> list[list[str]]:
    found, cursor = [], None
    while True:
        page = api.get("/api/ingress", params={**params, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        found.append(ids(page.json()["items"]))
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return found
        assert len(found) < 10, "the cursor never ends"


def test_cursor_paging_visits_every_reading_once_in_order(api: httpx.Client) -> None:
    node = new_node("page")
    created = [create(api, node_id=node)["id"] for _ in range(7)]
    walked = pages(api, node_id=node, limit=3)
    assert [len(p) for p in walked] == [3, 3, 1]
    assert [i for p in walked for i in p] == list(reversed(created))  # newest first by default


def test_cursor_paging_by_level_with_ties(api: httpx.Client) -> None:
    node = new_node("ties")
    levels = (-1.0, -1.0, -1.0, -2.0, -2.0, -3.0, -3.0)
    created = {create(api, node_id=node, level_dbmv=level)["id"]: level for level in levels}
    walked = pages(api, node_id=node, limit=3, sort="level_dbmv", order="asc")
    flat = [i for p in walked for i in p]
    assert sorted(flat) == sorted(created)
    assert flat == sorted(created, key=lambda i: (created[i], uuid.UUID(i)))
