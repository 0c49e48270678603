"""Live streams keep checking who is listening: logout, deactivation, demotion, a revoked key or an expired token end
a running SSE or WebSocket stream (the shared stack re-checks every second); a user or key holds a bounded number of
streams; the first, unauthenticated WebSocket message is small."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.helpers.support import Backbone, Stack, bearer, running_stack


def new_user(stack: Stack, role: str, signed_in_at: Stack | None = None) -> tuple[str, dict[str, Any]]:
    """A user made by the session's admin, signed in at `signed_in_at` (whose token lifetime applies)."""
    username, password = f"live-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    with stack.client() as admin:
        made = admin.post("/api/auth/users", json={"username": username, "password": password, "role": role})
        assert made.status_code == 201, made.text
    login = httpx.post(f"{(signed_in_at or stack).api_url}/api/auth/login", timeout=15,
                       json={"username": username, "password": password})
    assert login.status_code == 200, login.text
    return made.json()["id"], login.json()


def sse_until_end(stack: Stack, headers: dict[str, str], act: Any, within_s: float = 45) -> dict[str, Any]:
    """Open /api/stream, wait until live, run `act`, and return the error the stream ends with."""
    timeout = httpx.Timeout(15, read=within_s)
    with httpx.stream("GET", f"{stack.api_url}/api/stream", headers=headers, timeout=timeout) as answer:
        assert answer.status_code == 200, answer.read()
        lines = answer.iter_lines()
        assert next(line for line in lines if line.startswith(":")) == ": live"
        act()
        started = time.monotonic()
        for line in lines:
            if line == "event: error":
                error: dict[str, Any] = orjson.loads(next(lines).removeprefix("data: "))
                assert time.monotonic() - started < within_s
                assert list(lines) == [""] or all(not line for line in lines)  # and then the stream ends
                return error
    raise AssertionError("the stream ended without saying why")


def socket(stack: Stack, token: str, **subscribe: Any) -> ClientConnection:
    ws = connect(stack.api_url.replace("http://", "ws://") + "/ws", open_timeout=10)
    ws.send(orjson.dumps({"type": "subscribe", "token": token, **subscribe}).decode())
    assert orjson.loads(ws.recv(timeout=10))["type"] == "subscribed"
    return ws


def closed_with(ws: ClientConnection, within_s: float = 15) -> tuple[int, dict[str, Any]]:
    error: dict[str, Any] = {}
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            message = orjson.loads(ws.recv(timeout=within_s))
            if message["type"] == "error":
                error = message
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, error


def test_logout_ends_a_running_sse_stream(stack: Stack) -> None:
    _, tokens = new_user(stack, "viewer")
    headers = bearer(tokens["access_token"])
    error = sse_until_end(stack, headers, lambda: httpx.post(f"{stack.api_url}/api/auth/logout", headers=headers,
                                                             timeout=15).raise_for_status())
    assert error["status"] == 401


def test_deactivation_closes_a_websocket(stack: Stack) -> None:
    user_id, tokens = new_user(stack, "operator")
    with socket(stack, tokens["access_token"]) as ws, stack.client() as admin:
        assert admin.patch(f"/api/auth/users/{user_id}", json={"active": False}).status_code == 200
        code, error = closed_with(ws)
    assert code == 4401 and error["status"] == 401


def test_demotion_closes_a_websocket_of_topics_no_longer_readable(stack: Stack) -> None:
    user_id, tokens = new_user(stack, "admin")
    with socket(stack, tokens["access_token"], topics=["audit"]) as ws, stack.client() as admin:
        assert admin.patch(f"/api/auth/users/{user_id}", json={"role": "viewer"}).status_code == 200
        code, error = closed_with(ws)
    assert code == 4403 and error["status"] == 403


def test_revoking_a_key_ends_its_stream(stack: Stack) -> None:
    with stack.client() as admin:
        made = admin.post("/api/auth/api-keys", json={"name": "wallboard", "scopes": ["alerts:read"]}).json()

        def revoke() -> None:
            assert admin.delete(f"/api/auth/api-keys/{made['id']}").status_code == 204

        error = sse_until_end(stack, {"X-API-Key": made["key"]}, revoke)
    assert error["status"] == 401


@pytest.fixture(scope="module")
def tight(backbone: Backbone, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(backbone, tmp_path_factory.mktemp("live-tight"), ("api",), OPSLEDGER_ACCESS_TOKEN_TTL_S="30",
                       OPSLEDGER_STREAM_MAX_PER_PRINCIPAL="2", OPSLEDGER_STREAM_RECHECK_S="1") as running:
        yield running


def test_an_expired_token_ends_its_stream(stack: Stack, tight: Stack) -> None:
    _, tokens = new_user(stack, "viewer", tight)  # a 30-second token
    error = sse_until_end(tight, bearer(tokens["access_token"]), lambda: None, within_s=45)
    assert error["status"] == 401


def test_streams_per_principal_are_capped(stack: Stack, tight: Stack) -> None:
    _, tokens = new_user(stack, "viewer", tight)
    with socket(tight, tokens["access_token"]), socket(tight, tokens["access_token"]):
        third = httpx.get(f"{tight.api_url}/api/stream", headers=bearer(tokens["access_token"]), timeout=15)
        assert third.status_code == 429 and third.headers["content-type"].startswith("application/problem+json")
        with connect(tight.api_url.replace("http://", "ws://") + "/ws", open_timeout=10) as ws:
            ws.send(orjson.dumps({"type": "subscribe", "token": tokens["access_token"]}).decode())
            code, error = closed_with(ws)
        assert code == 4429 and error["status"] == 429
    _, other = new_user(stack, "viewer", tight)  # another user has streams of their own
    with socket(tight, other["access_token"]):
        pass


def test_an_oversized_first_websocket_message_is_refused_unread(tight: Stack) -> None:
    with connect(tight.api_url.replace("http://", "ws://") + "/ws", open_timeout=10, max_size=None) as ws:
        ws.send(orjson.dumps({"type": "subscribe", "token": "x" * 200_000}).decode())
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big
