"""The console's in-process API calls and the limits: they carry the credential the page was opened with (not another
one from the same request) and are counted against the visitor's address, so no visitor can spend the budget of the
address every console call used to share (127.0.0.1, the in-process client's) and blank the console for everyone."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers.support import Backbone, Stack, running_stack

ADDRESS_RATE, FAILURE_RATE = 60, 5
PANELS = ('id="alerts"', 'id="devices"', 'id="cameras"', 'id="cylinders"')
SAME_SITE = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture(scope="module")
def limited(backbone: Backbone, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(backbone, tmp_path_factory.mktemp("console-limits"), ("api",),
                       OPSLEDGER_ADDRESS_RATE=f"{ADDRESS_RATE}/minute",
                       OPSLEDGER_AUTH_FAILURE_RATE=f"{FAILURE_RATE}/minute") as running:
        yield running


def from_address(stack: Stack, address: str) -> httpx.Client:
    """A client whose connections leave from `address` (all of 127.0.0.0/8 is loopback)."""
    return httpx.Client(base_url=stack.api_url, timeout=30, transport=httpx.HTTPTransport(local_address=address))


def signed_in(stack: Stack, role: str, address: str) -> httpx.Client:
    """A browser from `address` holding the console's session cookie of a new user with `role`."""
    username, password = f"limits-{role}-{secrets.token_hex(3)}", secrets.token_urlsafe(16)
    with stack.client() as admin:
        made = admin.post("/api/auth/users", json={"username": username, "password": password, "role": role})
        assert made.status_code == 201, made.text
    browser = from_address(stack, address)
    signed = browser.post("/login", data={"username": username, "password": password, "next": "/"},
                          headers=SAME_SITE)
    assert signed.status_code == 303, signed.text
    return browser


def test_a_token_with_a_bogus_cookie_does_not_blank_the_console_for_others(limited: Stack) -> None:
    viewer = limited.user("viewer")
    operator = signed_in(limited, "operator", "127.0.0.91")
    try:
        with from_address(limited, "127.0.0.90") as abuser:
            pages = [abuser.get("/", headers={**viewer, "Cookie": "ol_session=x"}) for _ in range(FAILURE_RATE)]
            assert [p.status_code for p in pages] == [200] * FAILURE_RATE
        page = operator.get("/")
        assert page.status_code == 200
        assert all(panel in page.text for panel in PANELS), "another visitor's console panels were blanked"
        # the page's own calls used the token it was opened with (each used to send the cookie's "x", and fail)
        assert all(panel in pages[-1].text for panel in PANELS)
        with limited.client() as admin:  # the in-process client's old address is not held either
            assert admin.get("/api/auth/profile").status_code == 200
    finally:
        operator.close()


def test_the_console_calls_are_counted_against_the_visitors_address(limited: Stack) -> None:
    """A page's calls count as the visitor's requests: a visitor opening pages in a loop runs out of its own budget
    well before it has opened ADDRESS_RATE pages, and nobody else's budget moves."""
    visitor = signed_in(limited, "viewer", "127.0.0.92")
    try:
        statuses: list[int] = []
        while len(statuses) < ADDRESS_RATE and 429 not in statuses:
            statuses.append(visitor.get("/").status_code)
        assert statuses[-1] == 429 and len(statuses) <= ADDRESS_RATE // 2, statuses
    finally:
        visitor.close()
    other = signed_in(limited, "viewer", "127.0.0.93")
    try:
        page = other.get("/")
        assert page.status_code == 200 and all(panel in page.text for panel in PANELS)
    finally:
        other.close()
