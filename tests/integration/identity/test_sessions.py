"""Sessions and passwords: a password change needs the current password and ends every other session; an admin's
one-time reset token; listing and ending one's own sessions; an absolute session lifetime that refreshing never
moves."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.helpers.support import Backbone, Stack, bearer, running_stack


def new_user(stack: Stack) -> tuple[str, str, str]:
    username, password = f"sess-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    with stack.client() as admin:
        made = admin.post("/api/auth/users", json={"username": username, "password": password, "role": "worker"})
    assert made.status_code == 201, made.text
    return made.json()["id"], username, password


def sign_in(stack: Stack, username: str, password: str, agent: str = "pytest") -> dict[str, Any]:
    answer = httpx.post(f"{stack.api_url}/api/auth/login", json={"username": username, "password": password},
                        headers={"User-Agent": agent}, timeout=15)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def profile(stack: Stack, tokens: dict[str, Any]) -> int:
    return httpx.get(f"{stack.api_url}/api/auth/profile", headers=bearer(tokens["access_token"]),
                     timeout=15).status_code


def refresh(stack: Stack, tokens: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{stack.api_url}/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]},
                      timeout=15)


def test_a_password_change_needs_the_current_password_and_ends_the_other_sessions(stack: Stack) -> None:
    _, username, password = new_user(stack)
    phone, laptop = sign_in(stack, username, password, "phone"), sign_in(stack, username, password, "laptop")
    url, new = f"{stack.api_url}/api/auth/password", secrets.token_urlsafe(16)
    wrong = httpx.post(url, headers=bearer(laptop["access_token"]), timeout=15,
                       json={"current_password": "not the password", "new_password": new})
    assert wrong.status_code == 403, wrong.text
    changed = httpx.post(url, headers=bearer(laptop["access_token"]), timeout=15,
                         json={"current_password": password, "new_password": new})
    assert changed.status_code == 204, changed.text
    assert profile(stack, laptop) == 200  # this session goes on
    assert profile(stack, phone) == 401 and refresh(stack, phone).status_code == 401  # the other one ended
    assert httpx.post(f"{stack.api_url}/api/auth/login", json={"username": username, "password": password},
                      timeout=15).status_code == 401
    sign_in(stack, username, new)


def test_sessions_are_listed_and_ended_by_their_user(stack: Stack) -> None:
    _, username, password = new_user(stack)
    phone, laptop = sign_in(stack, username, password, "phone"), sign_in(stack, username, password, "laptop")
    listed = httpx.get(f"{stack.api_url}/api/auth/sessions", headers=bearer(laptop["access_token"]), timeout=15)
    assert listed.status_code == 200, listed.text
    by_agent = {s["user_agent"]: s for s in listed.json()}
    assert set(by_agent) == {"phone", "laptop"} and by_agent["laptop"]["current"] and not by_agent["phone"]["current"]
    assert all(s["method"] == "password" and s["expires_at"] > s["started_at"] for s in listed.json())
    others = httpx.get(f"{stack.api_url}/api/auth/sessions", headers=stack.user("viewer"), timeout=15).json()
    assert not {s["id"] for s in others} & {s["id"] for s in listed.json()}
    stranger = httpx.delete(f"{stack.api_url}/api/auth/sessions/{by_agent['phone']['id']}",
                            headers=stack.user("admin"), timeout=15)
    assert stranger.status_code == 404  # even an admin ends only their own sessions here
    ended = httpx.delete(f"{stack.api_url}/api/auth/sessions/{by_agent['phone']['id']}",
                         headers=bearer(laptop["access_token"]), timeout=15)
    assert ended.status_code == 204, ended.text
    assert profile(stack, phone) == 401 and refresh(stack, phone).status_code == 401
    assert profile(stack, laptop) == 200


def test_an_admin_issues_a_one_time_reset_token(stack: Stack) -> None:
    user_id, username, password = new_user(stack)
    before = sign_in(stack, username, password)
    with stack.client() as admin:
        issued = admin.post(f"/api/auth/users/{user_id}/reset-token")
    assert issued.status_code == 201, issued.text
    assert "no-store" in issued.headers["cache-control"]
    token, new = issued.json()["token"], secrets.token_urlsafe(16)
    url = f"{stack.api_url}/api/auth/password/reset"
    assert httpx.post(url, json={"token": token, "new_password": new}, timeout=15).status_code == 204
    again = httpx.post(url, json={"token": token, "new_password": secrets.token_urlsafe(16)}, timeout=15)
    assert again.status_code == 400, again.text  # one time only
    assert profile(stack, before) == 401  # a reset ends every session
    sign_in(stack, username, new)
    forged = httpx.post(url, json={"token": secrets.token_urlsafe(32), "new_password": new}, timeout=15)
    assert forged.status_code == 400


@pytest.fixture(scope="module")
def short_sessions(backbone: Backbone, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(backbone, tmp_path_factory.mktemp("short-sessions"), ("api",),
                       OPSLEDGER_SESSION_MAX_S="60", OPSLEDGER_ACCESS_TOKEN_TTL_S="300") as running:
        yield running


def test_a_session_ends_at_its_absolute_lifetime_whatever_the_refreshes(short_sessions: Stack) -> None:
    _, username, password = new_user(short_sessions)
    tokens = sign_in(short_sessions, username, password)
    assert tokens["expires_in"] <= 60  # the access token never outlives its session
    started = time.monotonic()
    while time.monotonic() - started < 55:
        answer = refresh(short_sessions, tokens)
        assert answer.status_code == 200, answer.text
        tokens = answer.json()
        time.sleep(10)
    time.sleep(max(0.0, 62 - (time.monotonic() - started)))
    assert profile(short_sessions, tokens) == 401
    assert refresh(short_sessions, tokens).status_code == 401
