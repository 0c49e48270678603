"""A command's consistency token makes the next read see the command's effect."""

from __future__ import annotations

import uuid

import httpx

from tests.helpers.factories import reading_body


def test_token_makes_the_read_see_the_new_reading(api: httpx.Client) -> None:
    node = f"N-RYW-{uuid.uuid4().hex[:8]}"
    for _ in range(20):
        accepted = api.post("/api/ingress", json=reading_body(node_id=node))
        assert accepted.status_code == 202, accepted.text
        token = accepted.json()["consistency_token"]
        assert accepted.headers["Opsledger-Consistency"] == token
        got = api.get(accepted.json()["location"], headers={"Opsledger-Consistency": token})
        assert got.status_code == 200, got.text
        assert got.json()["node_id"] == node
    listed = api.get("/api/ingress", params={"node_id": node, "after": token, "limit": 100})
    assert len(listed.json()["items"]) == 20


def test_wait_true_returns_the_created_resource(api: httpx.Client) -> None:
    created = api.post("/api/ingress", params={"wait": "true"}, json=reading_body(level_dbmv=-31.5))
    assert created.status_code == 201, created.text
    assert created.json()["level_dbmv"] == -31.5
    assert created.headers["ETag"] == '"1"'


def test_a_token_past_the_end_of_the_log_is_a_400_problem_at_once(api: httpx.Client) -> None:
    """A position the log has not reached is a forged token (issue 15): refused, not waited for until the timeout."""
    import base64

    token = base64.urlsafe_b64encode(b"ingress.readings:0:999999999").decode().rstrip("=")
    got = api.get("/api/ingress", params={"after": token}, timeout=30)
    assert got.status_code == 400
    assert got.headers["content-type"].startswith("application/problem+json")
    assert got.elapsed.total_seconds() < 5


def test_a_garbled_token_is_a_400_problem(api: httpx.Client) -> None:
    got = api.get("/api/ingress", headers={"Opsledger-Consistency": "%%%not-base64"})
    assert got.status_code == 422  # not even the token alphabet (base64url)
    assert got.json()["status"] == 422
    got = api.get("/api/ingress", params={"after": "bm90LWEtdG9rZW4"})  # base64url, but of no position
    assert got.status_code == 400
    assert got.json()["status"] == 400
