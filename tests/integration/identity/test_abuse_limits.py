"""Limits that hold before anyone is authenticated, on APIs of their own (the limiter lives in the API process, or
in Redis): every request is counted per client address first, failed credentials are refused before their database
look-up once too many came from one address, failed logins are refused before the password is verified once too many
came from one address whatever the usernames (password spraying), nothing reads a body before the request is
authorized, anonymous misses are not audited, an account backs off after repeated failed logins from anywhere,
forwarded addresses are read from the right, and two API processes share one budget through a real redis-server."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.entry.embedded import free_port
from infra.settings import Settings
from tests.helpers.support import Backbone, Stack, running_stack, wait_until

ADDRESS_RATE, FAILURE_RATE = 40, 5
LOGIN_FAILURES = 30  # OPSLEDGER_LOGIN_FAILURE_RATE's default, a minute


@pytest.fixture(scope="module")
def guarded(backbone: Backbone, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(backbone, tmp_path_factory.mktemp("guarded"), ("api",),
                       OPSLEDGER_ADDRESS_RATE=f"{ADDRESS_RATE}/minute",
                       OPSLEDGER_AUTH_FAILURE_RATE=f"{FAILURE_RATE}/minute",
                       OPSLEDGER_ACCOUNT_LOGIN_BACKOFF="3/minute,6/hour",
                       OPSLEDGER_LOGIN_FAILURE_RATE=f"{LOGIN_FAILURES}/minute",
                       OPSLEDGER_LOGIN_RATE="100/minute") as running:
        yield running


def from_address(stack: Stack, address: str) -> httpx.Client:
    """A client whose connections leave from `address` (all of 127.0.0.0/8 is loopback)."""
    return httpx.Client(base_url=stack.api_url, timeout=15, transport=httpx.HTTPTransport(local_address=address))


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, f"{response.status_code}: {response.text[:300]}"
    assert response.headers["content-type"].startswith("application/problem+json")
    return dict(response.json())


def test_every_request_counts_against_its_address_before_authentication(guarded: Stack) -> None:
    with from_address(guarded, "127.0.0.31") as client:
        statuses = [client.get("/api/auth/profile").status_code for _ in range(ADDRESS_RATE)]
        assert statuses == [401] * ADDRESS_RATE
        refused = client.get("/api/auth/profile")
        problem(refused, 429)
        assert int(refused.headers["Retry-After"]) >= 1
        problem(client.get("/readyz"), 429)  # public routes too (but /healthz, for orchestrators' probes)
        assert client.get("/healthz").status_code == 200
    with from_address(guarded, "127.0.0.32") as elsewhere:
        problem(elsewhere.get("/api/auth/profile"), 401)


@pytest.mark.parametrize(("bad", "address"), [("olk_deadbeef_not-a-real-key", "127.0.0.33"),
                                               ("eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl", "127.0.0.34")])
def test_failed_credentials_are_limited_per_address(guarded: Stack, bad: str, address: str) -> None:
    with from_address(guarded, address) as client:
        for _ in range(FAILURE_RATE):
            problem(client.get("/api/auth/profile", headers={"Authorization": f"Bearer {bad}"}), 401)
        problem(client.get("/api/auth/profile", headers={"Authorization": f"Bearer {bad}"}), 429)
        good = guarded.user("viewer")
        problem(client.get("/api/auth/profile", headers=good), 429)  # the address, not the credential, is held
    with from_address(guarded, "127.0.0.40") as elsewhere:
        assert elsewhere.get("/api/auth/profile", headers=guarded.user("viewer")).status_code == 200


def raw_request(port: int, head: str, body_part: bytes, address: str) -> bytes:
    """Send a request whose body is promised in full but only begun, and read what comes back within 5 s."""
    with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(address, 0)) as sock:
        sock.sendall(head.encode() + body_part)
        try:
            return sock.recv(4096)
        except TimeoutError:
            return b""


def test_a_body_is_not_read_before_the_request_is_authorized(guarded: Stack) -> None:
    """An anonymous upload is refused at once, not after the server has waited for (and stored) its megabytes."""
    head = ("POST /api/files HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\n"
            "Content-Length: 5000000\r\n\r\n")
    answer = raw_request(guarded.api_port, head, b"--x\r\n", "127.0.0.41")
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    viewer = guarded.user("viewer")["Authorization"]
    head = head.replace("Host: 127.0.0.1\r\n", f"Host: 127.0.0.1\r\nAuthorization: {viewer}\r\n")
    answer = raw_request(guarded.api_port, head, b"--x\r\n", "127.0.0.41")
    assert answer.startswith(b"HTTP/1.1 403"), answer[:200]  # a viewer may not upload: told before the body


def test_anonymous_misses_are_not_audited(guarded: Stack, stack: Stack) -> None:
    """Every anonymous POST to a made-up path used to become an audit event (and two rows). The session stack's
    projections build the audit log; an anonymous failed login sent after the misses is audited under the same key
    (anonymous, so the same partition): once it shows, the misses would have too."""
    marker = f"nowhere-{secrets.token_hex(4)}"
    with from_address(guarded, "127.0.0.42") as client:
        problem(client.post(f"/api/{marker}", json={}), 404)
        problem(client.delete(f"/api/{marker}/x"), 404)
        problem(client.post("/api/auth/login", json={"username": marker, "password": "not the password"}), 401)
    with stack.client() as admin:
        def audited() -> list[dict[str, Any]] | None:
            items: list[dict[str, Any]] = admin.get("/api/audit", params={"limit": 500}).json()["items"]
            return items if any(e["subject"] == marker for e in items) else None

        items = wait_until(audited, timeout=30, what="the failed login in the audit log")
    assert [e for e in items if marker in e["action"]] == []


def test_an_account_backs_off_after_failed_logins_from_anywhere(guarded: Stack) -> None:
    username, password = f"target-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    with guarded.client() as admin:
        assert admin.post("/api/auth/users", json={"username": username, "password": password}).status_code == 201
    for n in range(3):  # three addresses, one wrong guess each: the per-address limit never sees a pattern
        with from_address(guarded, f"127.0.0.{50 + n}") as client:
            problem(client.post("/api/auth/login", json={"username": username, "password": "not it at all"}), 401)
    with from_address(guarded, "127.0.0.53") as client:
        refused = client.post("/api/auth/login", json={"username": username, "password": password})
        problem(refused, 429)  # even the right password waits: the account is backing off
        assert 1 <= int(refused.headers["Retry-After"]) <= 61
        other = guarded.user("viewer")  # other accounts are not held
        assert client.get("/api/auth/profile", headers=other).status_code == 200


def new_account(stack: Stack) -> tuple[str, str]:
    username, password = f"target-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    with stack.client() as admin:
        assert admin.post("/api/auth/users", json={"username": username, "password": password}).status_code == 201
    return username, password


def login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return client.post("/api/auth/login", json={"username": username, "password": password})


def test_failed_logins_are_limited_per_address_whatever_the_usernames(guarded: Stack) -> None:
    """Password spraying: one password against many usernames from one address, each a different account (so neither
    the per-username limit nor any account's back-off sees a pattern). Past the address's window of failures the
    password is not verified at all (no argon2id work); other addresses still sign in."""
    assert Settings.model_fields["login_failure_rate"].default == f"{LOGIN_FAILURES}/minute"
    username, password = new_account(guarded)
    sprayed = [username] + [f"spray-{n}-{secrets.token_hex(3)}" for n in range(LOGIN_FAILURES)]  # known and unknown
    with from_address(guarded, "127.0.0.70") as client:
        for name in sprayed[:LOGIN_FAILURES]:
            problem(login(client, name, "Spring2026-password"), 401)
        refused = login(client, sprayed[LOGIN_FAILURES], "Spring2026-password")
        assert "from this address" in problem(refused, 429)["detail"]
        assert 1 <= int(refused.headers["Retry-After"]) <= 61
        problem(login(client, username, password), 429)  # the address is held, whoever signs in from it
    with from_address(guarded, "127.0.0.71") as elsewhere:
        signed_in = login(elsewhere, username, password)
        assert signed_in.status_code == 200, signed_in.text  # other addresses' failures hold nobody here


def test_a_burst_of_failed_logins_cannot_overrun_the_address_window(guarded: Stack) -> None:
    """Sent all at once, the guesses would all pass a check made before the first failure is counted: the checks
    from one address take turns, so no more than the window's passwords are verified."""
    burst = ADDRESS_RATE - 2  # within the address's request limit

    def guess(n: int) -> int:
        with from_address(guarded, "127.0.0.72") as client:
            return login(client, f"burst-{n}-{secrets.token_hex(3)}", "Spring2026-password").status_code

    with ThreadPoolExecutor(max_workers=burst) as pool:
        statuses = sorted(pool.map(guess, range(burst)))
    assert statuses == [401] * LOGIN_FAILURES + [429] * (burst - LOGIN_FAILURES)


@pytest.fixture(scope="module")
def behind_proxies(backbone: Backbone, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(backbone, tmp_path_factory.mktemp("proxied"), ("api",), OPSLEDGER_TRUST_FORWARDED="true",
                       OPSLEDGER_TRUSTED_PROXY_HOPS="2", OPSLEDGER_AUTH_FAILURE_RATE="3/minute") as running:
        yield running


def test_the_client_address_is_counted_from_the_right_of_x_forwarded_for(behind_proxies: Stack) -> None:
    """Two proxies of ours: the client is the second entry from the right; what it wrote to the left is ignored."""
    def guess(forwarded: str) -> int:
        return httpx.get(f"{behind_proxies.api_url}/api/auth/profile", timeout=15,
                         headers={"Authorization": "Bearer olk_nope", "X-Forwarded-For": forwarded}).status_code

    assert [guess(f"10.9.9.{n}, 198.51.100.7, 10.0.0.2") for n in range(3)] == [401] * 3
    assert guess("203.0.113.250, 198.51.100.7, 10.0.0.2") == 429  # spoofing the left part changes nothing
    assert guess("198.51.100.8, 10.0.0.2") == 401  # another client behind the same proxies


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server (Debian's package, installed by tests/deps.sh) on a free loopback port."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is missing: tests/deps.sh installs it"
    port, root = free_port(), tmp_path_factory.mktemp("redis")
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(root)], stdout=subprocess.DEVNULL)
    try:
        wait_until(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() is None, timeout=15,
                   what="redis-server to listen")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


def test_two_api_processes_share_one_budget_through_redis(backbone: Backbone, redis_url: str,
                                                         tmp_path_factory: pytest.TempPathFactory) -> None:
    root: Path = tmp_path_factory.mktemp("shared-limits")
    env = {"OPSLEDGER_RATE_LIMIT_STORAGE": redis_url, "OPSLEDGER_AUTH_FAILURE_RATE": "4/minute"}
    with running_stack(backbone, root / "a", ("api",), **env) as first, \
            running_stack(backbone, root / "b", ("api",), **env) as second:
        def guess(stack: Stack) -> int:
            with from_address(stack, "127.0.0.60") as client:
                return client.get("/api/auth/profile", headers={"Authorization": "Bearer olk_nope"}).status_code

        assert [guess(first), guess(second), guess(first), guess(second)] == [401] * 4
        assert guess(first) == 429 and guess(second) == 429  # either process knows what the other counted
