"""Self-registration: off unless OPSLEDGER_ALLOW_REGISTRATION=true, and then a new account waits for an admin's
approval; the answer never tells whether a username is taken."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.support import Backbone, Stack, bearer, running_stack


@pytest.fixture(scope="module")
def open_stack(backbone: Backbone, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A second API process on the session's backbone, with registration allowed."""
    root: Path = tmp_path_factory.mktemp("registration")
    with running_stack(backbone, root, ("api",), OPSLEDGER_ALLOW_REGISTRATION="true") as running:
        yield running


def register(url: str, username: str, password: str) -> httpx.Response:
    return httpx.post(f"{url}/api/auth/register", json={"username": username, "password": password}, timeout=15)


def test_registration_is_off_by_default(stack: Stack) -> None:
    answer = register(stack.api_url, f"walk-in-{secrets.token_hex(4)}", secrets.token_urlsafe(16))
    assert answer.status_code == 403, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_a_registered_user_waits_for_approval(open_stack: Stack) -> None:
    username, password = f"applicant-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    answer = register(open_stack.api_url, username, password)
    assert answer.status_code == 202, answer.text
    login = {"username": username, "password": password}
    assert httpx.post(f"{open_stack.api_url}/api/auth/login", json=login, timeout=15).status_code == 401
    with open_stack.client() as admin:
        found = [u for u in admin.get("/api/auth/users", params={"limit": 500}).json() if u["username"] == username]
        assert len(found) == 1 and found[0]["role"] == "viewer" and found[0]["active"] is False
        approved = admin.patch(f"/api/auth/users/{found[0]['id']}", json={"active": True})
        assert approved.status_code == 200, approved.text
    signed_in = httpx.post(f"{open_stack.api_url}/api/auth/login", json=login, timeout=15)
    assert signed_in.status_code == 200, signed_in.text
    me = httpx.get(f"{open_stack.api_url}/api/auth/profile", headers=bearer(signed_in.json()["access_token"]),
                   timeout=15)
    assert me.json()["role"] == "viewer"


def test_registering_a_taken_username_says_nothing_more(open_stack: Stack) -> None:
    username = f"Taken-{secrets.token_hex(4)}"
    first = register(open_stack.api_url, username, secrets.token_urlsafe(16))
    again = register(open_stack.api_url, username.upper(), secrets.token_urlsafe(16))
    fresh = register(open_stack.api_url, f"free-{secrets.token_hex(4)}", secrets.token_urlsafe(16))
    assert first.status_code == again.status_code == fresh.status_code == 202
    assert first.json() == again.json() == fresh.json()
    existing = register(open_stack.api_url, "test-admin", secrets.token_urlsafe(16))  # the suite's admin
    assert existing.status_code == 202 and existing.json() == fresh.json()


def test_a_registrant_cannot_choose_a_role(open_stack: Stack) -> None:
    grab = httpx.post(f"{open_stack.api_url}/api/auth/register", timeout=15,
                      json={"username": f"grab-{secrets.token_hex(4)}", "password": secrets.token_urlsafe(16),
                            "role": "admin"})
    assert grab.status_code == 422, grab.text
