"""The console's pages and session over HTTP: which role may open which page (an expectation table written apart
from CONSOLE_RULES), sign-in by the form, CSRF on every command made with the session cookie, and the WebSocket's
cookie refused from another origin."""

from __future__ import annotations

import re
import secrets
import uuid

import httpx
import pytest
from websockets.sync.client import connect

from tests.helpers.support import Stack, bearer

ROLES = ("admin", "operator", "worker", "viewer")
EVERYONE, ANALYSTS, WRITERS = frozenset(ROLES), frozenset({"admin", "operator", "viewer"}), \
    frozenset({"admin", "operator", "worker"})
ADMIN = frozenset({"admin"})
NOT_THERE = uuid.uuid4()
PAGES: dict[str, frozenset[str]] = {
    "/": EVERYONE, "/alerts": EVERYONE, f"/alerts/{NOT_THERE}": EVERYONE, "/devices": EVERYONE,
    f"/devices/{NOT_THERE}": EVERYONE, "/topology": EVERYONE, "/cameras": EVERYONE, "/discovery": ADMIN,
    "/cylinders": EVERYONE, "/cylinders/scan": WRITERS, "/cylinders/customers": EVERYONE,
    "/cylinders/reports": ADMIN, "/cylinders/labels": EVERYONE, "/ingress": EVERYONE, "/ingress/new": WRITERS,
    "/events": ANALYSTS, "/events/timeline": ANALYSTS, "/admin": ADMIN, "/admin/keys": ADMIN, "/admin/rules": ADMIN,
    "/admin/audit": ADMIN,
}
SAME_SITE = {"Sec-Fetch-Site": "same-origin"}


def user(stack: Stack, role: str) -> tuple[str, str]:
    username, password = f"page-{role}-{secrets.token_hex(3)}", secrets.token_urlsafe(16)
    made = httpx.post(f"{stack.api_url}/api/auth/users", headers=bearer(stack.admin_token), timeout=15,
                      json={"username": username, "password": password, "role": role})
    assert made.status_code == 201, made.text
    return username, password


def browser_session(stack: Stack, role: str) -> tuple[httpx.Client, str]:
    """A client holding the console's cookies, and the page's CSRF token."""
    username, password = user(stack, role)
    client = httpx.Client(base_url=stack.api_url, timeout=30)
    signed = client.post("/login", data={"username": username, "password": password, "next": "/"},
                         headers=SAME_SITE)
    assert signed.status_code == 303, signed.text
    cookie = signed.headers.get_list("set-cookie")
    assert all("httponly" in c.lower() and "samesite=strict" in c.lower() for c in cookie), cookie
    page = client.get("/")
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert page.status_code == 200 and found
    return client, found.group(1)


@pytest.mark.parametrize("role", ROLES)
def test_each_page_opens_for_the_roles_its_api_rule_names(stack: Stack, role: str) -> None:
    client, _ = browser_session(stack, role)
    try:
        for path, roles in PAGES.items():
            answer = client.get(path)
            expected = 403 if role not in roles else 404 if str(NOT_THERE) in path else 200
            assert answer.status_code == expected, f"{role} {path}: {answer.status_code}"
            assert answer.headers["content-type"].startswith("text/html")
            csp = answer.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    finally:
        client.close()


def test_a_visitor_without_a_session_is_sent_to_sign_in(stack: Stack) -> None:
    with httpx.Client(base_url=stack.api_url, timeout=15) as anon:
        for path in PAGES:
            answer = anon.get(path)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/session/resume"), path
        assert anon.get("/session/resume", params={"next": "/alerts"}).headers["location"] == "/login?next=/alerts"
        # only this site's own paths are followed after signing in
        assert anon.get("/session/resume", params={"next": "//evil.example"}).headers["location"] == "/login?next=/"
        # a login posted from another site is refused (login CSRF)
        foreign = anon.post("/login", data={"username": "admin", "password": "x" * 12},
                            headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403


def test_commands_with_the_cookie_need_the_csrf_token(stack: Stack) -> None:
    client, csrf = browser_session(stack, "operator")
    body = {"subject": f"csrf-{secrets.token_hex(3)}", "severity": "low", "summary": "csrf check"}
    try:
        assert client.post("/api/alerts/", json=body).status_code == 403
        assert client.post("/api/alerts/", json=body, headers={"X-CSRF-Token": "A" * 43}).status_code == 403
        assert client.post("/api/alerts/", json=body, headers={"X-CSRF-Token": csrf}).status_code == 202
        assert client.get("/api/alerts/summary").status_code == 200  # reads need no token
        assert client.post("/session/refresh").status_code == 403
        assert client.post("/session/refresh", headers={"X-CSRF-Token": csrf}).status_code == 204
        assert client.post("/session/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
        assert client.get("/").status_code == 303  # signed out
    finally:
        client.close()


def test_the_socket_takes_the_cookie_only_from_this_origin(stack: Stack) -> None:
    client, _ = browser_session(stack, "viewer")
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    url = stack.api_url.replace("http://", "ws://") + "/ws"
    subscribe = '{"type": "subscribe", "topics": ["alerts.events"]}'
    with connect(url, additional_headers={"Cookie": cookie, "Origin": stack.api_url}) as socket:
        socket.send(subscribe)
        assert '"subscribed"' in socket.recv(timeout=15)
    with connect(url, additional_headers={"Cookie": cookie, "Origin": "https://evil.example"}) as socket:
        socket.send(subscribe)
        refused = socket.recv(timeout=15)
        assert '"status":401' in refused.replace(" ", "")
    client.close()
