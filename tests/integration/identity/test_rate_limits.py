"""Rate limits on an API of its own (the limiter lives in the API process): 5 logins a minute per username and
client, 30 requests a minute per signed-in caller. Failed logins never tell whether the user exists."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.support import Backbone, Stack, bearer, running_stack

LOGIN_RATE, CLIENT_RATE, SCAN_RATE = 5, 30, 10


@pytest.fixture(scope="module")
def private_stack(backbone: Backbone, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Only the API (no projections needed): fresh limiter state, the session's backbone and database."""
    root: Path = tmp_path_factory.mktemp("rate-limited")
    with running_stack(backbone, root, names=("api",), OPSLEDGER_LOGIN_RATE=f"{LOGIN_RATE}/minute",
                       OPSLEDGER_CLIENT_RATE=f"{CLIENT_RATE}/minute", OPSLEDGER_SCAN_RATE=f"{SCAN_RATE}/minute"
                       ) as stack:
        yield stack


@pytest.fixture(scope="module")
def anon(private_stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=private_stack.api_url, timeout=15) as client:
        yield client


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, f"{response.status_code}: {response.text[:500]}"
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def assert_slow_down(response: httpx.Response) -> None:
    assert_problem(response, 429)
    retry_after = response.headers.get("retry-after", "")
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 61, f"Retry-After: {retry_after!r}"


def new_user(stack: Stack, role: str = "viewer") -> tuple[str, str]:
    username, password = f"{role}-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    with stack.client() as admin:
        made = admin.post("/api/auth/users", json={"username": username, "password": password, "role": role})
    assert made.status_code == 201, made.text
    return username, password


def attempt(anon: httpx.Client, username: str, password: str, **headers: str) -> httpx.Response:
    return anon.post("/api/auth/login", json={"username": username, "password": password}, headers=headers)


def test_the_sixth_login_for_a_username_within_a_minute_is_429(private_stack: Stack, anon: httpx.Client) -> None:
    username, password = new_user(private_stack)
    for _ in range(LOGIN_RATE):
        assert_problem(attempt(anon, username, "wrong password, again"), 401)
    assert_slow_down(attempt(anon, username, "wrong password, again"))
    assert_slow_down(attempt(anon, username, password))  # the right password waits too
    assert_slow_down(attempt(anon, username.upper(), password))  # the limit is on the user, not the spelling
    assert_problem(attempt(anon, f"nobody-{secrets.token_hex(4)}", "wrong password, again"), 401)
    other, other_password = new_user(private_stack)
    assert_problem(attempt(anon, other, "wrong password, again"), 401)
    assert attempt(anon, other, other_password).status_code == 200
    # The same username from another client address is its own bucket.
    with httpx.Client(base_url=anon.base_url, timeout=15,
                      transport=httpx.HTTPTransport(local_address="127.0.0.2")) as elsewhere:
        assert attempt(elsewhere, username, password).status_code == 200


def test_a_made_up_forwarded_address_does_not_escape_the_login_limit(private_stack: Stack,
                                                                     anon: httpx.Client) -> None:
    """This stack does not set OPSLEDGER_TRUST_FORWARDED: X-Forwarded-For from the caller must change nothing."""
    username, password = new_user(private_stack)
    for _ in range(LOGIN_RATE):
        assert_problem(attempt(anon, username, "wrong password, again"), 401)
    assert_slow_down(attempt(anon, username, password, **{"X-Forwarded-For": "203.0.113.9"}))


def test_failed_logins_do_not_reveal_whether_the_user_exists(private_stack: Stack, anon: httpx.Client) -> None:
    username, _ = new_user(private_stack)
    wrong = attempt(anon, username, "wrong password, again")
    unknown = attempt(anon, f"nobody-{secrets.token_hex(4)}", "wrong password, again")
    assert wrong.status_code == unknown.status_code == 401
    assert {k: v for k, v in wrong.json().items() if k not in ("request_id",)} == \
        {k: v for k, v in unknown.json().items() if k not in ("request_id",)}
    assert wrong.headers["content-type"] == unknown.headers["content-type"]


def test_a_signed_in_caller_is_capped_and_others_are_not(private_stack: Stack, anon: httpx.Client) -> None:
    busy, calm = private_stack.user("viewer"), private_stack.user("viewer")
    statuses = [anon.get("/api/auth/profile", headers=busy).status_code for _ in range(CLIENT_RATE)]
    assert statuses == [200] * CLIENT_RATE
    assert_slow_down(anon.get("/api/auth/profile", headers=busy))
    assert anon.get("/api/auth/profile", headers=calm).status_code == 200


def test_the_cap_is_per_caller_not_per_token(private_stack: Stack, anon: httpx.Client) -> None:
    """Signing in again does not reset the cap: it counts the user, whatever token they hold."""
    username, password = new_user(private_stack)
    first = bearer(private_stack.login(username, password))
    for _ in range(CLIENT_RATE):
        anon.get("/api/auth/profile", headers=first)
    second = bearer(private_stack.login(username, password))
    assert_slow_down(anon.get("/api/auth/profile", headers=second))


def test_scans_are_counted_one_by_one_per_caller_whatever_the_batch(private_stack: Stack) -> None:
    from producers.cylinders.qrcodes import new_code

    def batch(n: int) -> dict[str, Any]:
        return {"scans": [{"client_scan_id": secrets.token_hex(8), "qr_code": new_code(), "action": "ship",
                           "counterparty": "Acme", "scanned_at": "2026-03-02T08:00:00+00:00"} for _ in range(n)]}

    key = httpx.post(f"{private_stack.api_url}/api/auth/api-keys", headers=bearer(private_stack.admin_token),
                     json={"name": "dock", "scopes": ["scans:write"]}, timeout=15).json()["key"]
    with httpx.Client(base_url=private_stack.api_url, headers={"X-API-Key": key}, timeout=15) as scanner:
        assert scanner.post("/api/scans", json=batch(SCAN_RATE + 1)).status_code == 429  # can never fit
        assert scanner.post("/api/scans", json=batch(6)).status_code == 202
        over = scanner.post("/api/scans", json=batch(5))  # 6 + 5 > 10 in a minute
        assert "Too many scans" in assert_problem(over, 429)["detail"] and int(over.headers["Retry-After"]) > 0
        assert scanner.post("/api/scans", json=batch(4)).status_code == 202  # a refused batch used up nothing
        assert scanner.post("/api/scans", json=batch(1)).status_code == 429
    worker = private_stack.user("worker")  # another caller has a window of its own
    assert httpx.post(f"{private_stack.api_url}/api/scans", headers=worker, json=batch(SCAN_RATE),
                      timeout=15).status_code == 202
