"""The authorization matrix, walked over the live API: every operation in /openapi.json, called by every role, by
nobody and by scoped API keys, with minimal requests. The table below is the spec (README "Roles"), written
independently of api/identity/rules.py; a route missing from it fails test_every_live_operation_has_an_expectation."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.helpers.factories import reading_body
from tests.helpers.support import Stack

ROLES = ("admin", "operator", "worker", "viewer")
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})


@dataclass(frozen=True)
class Expect:
    roles: frozenset[str] = frozenset()
    scope: str | None = None  # the API-key scope that may call it; None: no key may
    public: bool = False
    key_scopes: frozenset[str] = frozenset()  # by-topic routes: any of these lets a key through


PUBLIC = Expect(public=True)
EVERYONE = Expect(frozenset(ROLES))
ADMIN_ONLY = Expect(frozenset({"admin"}))
INGRESS_READ = Expect(frozenset(ROLES), "ingress:read")  # workers: their own readings only (test_ownership)
INGRESS_WRITE = Expect(frozenset({"admin", "operator", "worker"}), "ingress:write")

SCANS = Expect(frozenset({"admin", "operator", "worker"}), "scans:write")
CYLINDERS_READ = Expect(frozenset(ROLES), "cylinders:read")
ALERTS_READ = Expect(frozenset(ROLES), "alerts:read")
OPERATORS = Expect(frozenset({"admin", "operator"}))
DEVICES_READ = Expect(frozenset(ROLES), "devices:read")
# live push: every role streams (the topics it may read); a key needs the read scope of at least one topic
STREAMING = Expect(frozenset(ROLES), key_scopes=frozenset({"alerts:read", "cylinders:read", "devices:read",
                                                           "ingress:read", "files:read", "images:read",
                                                           "ml:read"}))
IMAGES_READ = Expect(frozenset(ROLES), "images:read")  # workers: their own ingress readings' images (test_images_api)
ANALYSTS = frozenset({"admin", "operator", "viewer"})
ML_READ = Expect(ANALYSTS, "ml:read")

EXPECTED: dict[tuple[str, str], Expect] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/asyncapi.json"): PUBLIC,
    ("GET", "/metrics"): Expect(frozenset({"admin"}), "metrics:read"),
    ("POST", "/api/auth/register"): PUBLIC,
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/refresh"): PUBLIC,
    ("GET", "/api/auth/oidc/login"): PUBLIC,
    ("GET", "/api/auth/oidc/callback"): PUBLIC,
    ("POST", "/api/auth/oidc/exchange"): PUBLIC,
    ("POST", "/api/auth/logout"): EVERYONE,
    ("GET", "/api/auth/profile"): EVERYONE,
    ("POST", "/api/auth/password"): EVERYONE,
    ("GET", "/api/auth/sessions"): EVERYONE,
    ("DELETE", "/api/auth/sessions/{session_id}"): EVERYONE,
    ("POST", "/api/auth/password/reset"): PUBLIC,
    ("POST", "/api/auth/users/{user_id}/reset-token"): ADMIN_ONLY,
    ("GET", "/api/auth/users"): ADMIN_ONLY,
    ("POST", "/api/auth/users"): ADMIN_ONLY,
    ("PATCH", "/api/auth/users/{user_id}"): ADMIN_ONLY,
    ("GET", "/api/auth/api-keys"): ADMIN_ONLY,
    ("POST", "/api/auth/api-keys"): ADMIN_ONLY,
    ("DELETE", "/api/auth/api-keys/{key_id}"): ADMIN_ONLY,
    ("POST", "/api/auth/api-keys/{key_id}/rotate"): ADMIN_ONLY,
    ("GET", "/api/audit"): ADMIN_ONLY,
    ("POST", "/api/ingress"): INGRESS_WRITE,
    ("GET", "/api/ingress"): INGRESS_READ,
    ("GET", "/api/ingress/{reading_id}"): INGRESS_READ,
    ("PUT", "/api/ingress/{reading_id}"): INGRESS_WRITE,
    ("DELETE", "/api/ingress/{reading_id}"): INGRESS_WRITE,
    ("GET", "/api/ingress/{reading_id}/history"): INGRESS_READ,
    ("POST", "/api/files"): Expect(frozenset({"admin", "operator", "worker"}), "files:write"),
    ("GET", "/api/files/{sha256}"): Expect(frozenset(ROLES), "files:read"),
    # cylinders: workers scan (add/trash/reprint are admin's), everyone signed in reads
    ("POST", "/api/scans"): SCANS,
    ("POST", "/api/cylinders/ship"): SCANS,
    ("POST", "/api/cylinders/return"): SCANS,
    ("POST", "/api/cylinders/refill/send"): SCANS,
    ("POST", "/api/cylinders/refill/receive"): SCANS,
    ("POST", "/api/cylinders/add"): ADMIN_ONLY,
    ("POST", "/api/cylinders/trash"): ADMIN_ONLY,
    ("POST", "/api/cylinders/reprint"): ADMIN_ONLY,
    ("GET", "/api/cylinders"): CYLINDERS_READ,
    ("GET", "/api/cylinders/labels.svg"): CYLINDERS_READ,
    ("GET", "/api/cylinders/{qr_code}"): CYLINDERS_READ,
    ("GET", "/api/cylinders/{qr_code}/history"): CYLINDERS_READ,
    ("GET", "/api/cylinders/{qr_code}/qr.svg"): CYLINDERS_READ,
    ("GET", "/api/cylinders/{qr_code}/qr.png"): CYLINDERS_READ,
    ("GET", "/api/customers"): CYLINDERS_READ,
    ("GET", "/api/customers/{customer}/balance"): CYLINDERS_READ,
    ("GET", "/api/admin/inventory"): ADMIN_ONLY,
    ("GET", "/api/admin/shipments"): ADMIN_ONLY,
    ("GET", "/api/admin/reports"): ADMIN_ONLY,
    # alerts: everyone signed in reads alerts and silences; operators act on them; only admins manage rules
    ("GET", "/api/alerts/rules"): ADMIN_ONLY,
    ("POST", "/api/alerts/rules"): ADMIN_ONLY,
    ("GET", "/api/alerts/rules/{rule_id}"): ADMIN_ONLY,
    ("PUT", "/api/alerts/rules/{rule_id}"): ADMIN_ONLY,
    ("DELETE", "/api/alerts/rules/{rule_id}"): ADMIN_ONLY,
    ("GET", "/api/alerts/"): ALERTS_READ,
    ("POST", "/api/alerts/"): OPERATORS,
    ("GET", "/api/alerts/summary"): ALERTS_READ,
    ("POST", "/api/alerts/acknowledge-all"): OPERATORS,
    ("GET", "/api/alerts/{alert_id}"): ALERTS_READ,
    ("POST", "/api/alerts/{alert_id}/acknowledge"): OPERATORS,
    ("POST", "/api/alerts/{alert_id}/resolve"): OPERATORS,
    ("GET", "/api/silences"): ALERTS_READ,
    ("POST", "/api/silences"): OPERATORS,
    ("GET", "/api/silences/{silence_id}"): ALERTS_READ,
    ("DELETE", "/api/silences/{silence_id}"): OPERATORS,
    # devices and cameras: everyone signed in reads; operators manage the registry, poll and probe now
    ("GET", "/api/devices/"): DEVICES_READ,
    ("POST", "/api/devices/"): OPERATORS,
    ("GET", "/api/devices/status"): DEVICES_READ,
    ("POST", "/api/devices/discover"): ADMIN_ONLY,
    ("GET", "/api/devices/discovered"): ADMIN_ONLY,
    ("GET", "/api/devices/{device_id}"): DEVICES_READ,
    ("PUT", "/api/devices/{device_id}"): OPERATORS,
    ("DELETE", "/api/devices/{device_id}"): OPERATORS,
    ("POST", "/api/devices/{device_id}/poll"): OPERATORS,
    ("GET", "/api/devices/{device_id}/interfaces"): DEVICES_READ,
    ("GET", "/api/devices/{device_id}/interfaces/{if_index}/bandwidth"): DEVICES_READ,
    ("GET", "/api/bandwidth/top"): DEVICES_READ,
    ("GET", "/api/topology"): DEVICES_READ,
    ("GET", "/api/cameras/"): DEVICES_READ,
    ("POST", "/api/cameras/"): OPERATORS,
    ("GET", "/api/cameras/{camera_id}"): DEVICES_READ,
    ("PUT", "/api/cameras/{camera_id}"): OPERATORS,
    ("DELETE", "/api/cameras/{camera_id}"): OPERATORS,
    ("GET", "/api/cameras/{camera_id}/stream"): DEVICES_READ,
    ("POST", "/api/cameras/{camera_id}/test"): OPERATORS,
    ("POST", "/api/cameras/{camera_id}/snapshot"): OPERATORS,
    # images: workers photograph, everyone signed in reads (originals without GPS below operator)
    ("POST", "/api/images"): Expect(frozenset({"admin", "operator", "worker"}), "images:write"),
    ("GET", "/api/images"): IMAGES_READ,
    ("GET", "/api/images/status"): IMAGES_READ,
    ("GET", "/api/images/{image_id}"): IMAGES_READ,
    ("GET", "/api/images/{image_id}/thumbnail"): IMAGES_READ,
    ("GET", "/api/images/{image_id}/original"): IMAGES_READ,
    # a key reads the archive with events:read AND the read scope of each topic: test_topics_by_api_key
    ("GET", "/api/events"): Expect(frozenset({"admin", "operator", "viewer"})),
    ("GET", "/api/events/{event_id}"): Expect(frozenset({"admin", "operator", "viewer"})),
    # analytics: node ranking is across everyone's readings (not a worker's view); ML for analysts, keys scoped
    ("GET", "/api/ingress/nodes"): Expect(ANALYSTS, "ingress:read"),
    ("GET", "/api/analytics/capacity"): DEVICES_READ,
    ("POST", "/api/analytics/capacity/refresh"): OPERATORS,
    ("POST", "/api/ml/series/{series}/points"): Expect(frozenset({"admin", "operator"}), "ml:write"),
    ("GET", "/api/ml/series/{series}/scores"): ML_READ,
    ("POST", "/api/ml/predict"): ML_READ,
    ("GET", "/api/ml/models"): ML_READ,
    ("POST", "/api/ml/keys/{key_id}/signing"): ADMIN_ONLY,
    ("DELETE", "/api/ml/keys/{key_id}/signing"): ADMIN_ONLY,
    ("GET", "/api/stream"): STREAMING,
}
WEBSOCKETS: dict[str, Expect] = {"/ws": STREAMING}
OPERATIONS = sorted(EXPECTED)
KEY_SCOPES = sorted({e.scope for e in EXPECTED.values() if e.scope is not None}
                    | {s for e in EXPECTED.values() for s in e.key_scopes})
LOGOUT = ("POST", "/api/auth/logout")
# the smallest PNG (1x1 grey): an image upload the matrix may send
MATRIX_PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010800000000"
                           "3a7e9b550000000a49444154789c6368000000820081dd436af40000000049454e44ae426082")


def op_id(operation: tuple[str, str]) -> str:
    return f"{operation[0]} {operation[1]}"


@pytest.fixture(scope="module")
def live_operations(stack: Stack) -> dict[tuple[str, str], dict[str, Any]]:
    document = httpx.get(f"{stack.api_url}/openapi.json", timeout=15)
    assert document.status_code == 200, document.text
    return {(method.upper(), path): operation for path, item in document.json()["paths"].items()
            for method, operation in item.items() if method in HTTP_METHODS}


@pytest.fixture(scope="module")
def users(stack: Stack) -> dict[str, dict[str, str]]:
    return {role: stack.user(role) for role in ROLES}


@pytest.fixture(scope="module")
def anonymous(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api_url, timeout=15) as client:
        yield client


@pytest.fixture(scope="module")
def api_keys(api: httpx.Client) -> dict[str, str]:
    """One key per scope in the table, each with that scope alone."""
    keys = {}
    for scope in KEY_SCOPES:
        made = api.post("/api/auth/api-keys", json={"name": f"matrix-{scope}-{secrets.token_hex(3)}",
                                                    "scopes": [scope]})
        assert made.status_code == 201, made.text
        assert made.json()["scopes"] == [scope]
        keys[scope] = made.json()["key"]
    return keys


def path_value(name: str, schema: dict[str, Any]) -> str:
    """A syntactically valid value no resource has."""
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    if name == "sha256":
        return secrets.token_hex(32)
    if name == "qr_code":
        from producers.cylinders.qrcodes import new_code

        return new_code()
    if name == "customer":
        return f"nobody-{secrets.token_hex(4)}"
    if name == "rule_id":
        return f"no-rule-{secrets.token_hex(4)}"
    if name == "if_index":
        return "1"
    if name == "series":
        return f"ml/matrix/{secrets.token_hex(3)}"
    raise AssertionError(f"no test value for path parameter {name!r} ({schema}); teach path_value")


def call(client: httpx.Client, operation: tuple[str, str], live: dict[tuple[str, str], dict[str, Any]],
         headers: dict[str, str]) -> httpx.Response:
    method, template = operation
    assert operation in live, f"{op_id(operation)} is in EXPECTED but not in the live OpenAPI document"
    url = template
    for parameter in live[operation].get("parameters", []):
        if parameter["in"] == "path":
            url = url.replace("{" + parameter["name"] + "}", path_value(parameter["name"], parameter["schema"]))
    assert "{" not in url, f"unfilled path parameter in {url}"
    body: dict[str, Any] = {}
    if operation == ("POST", "/api/files"):
        body["files"] = {"file": ("matrix.txt", b"authorization matrix\n", "text/plain")}
    elif operation == ("POST", "/api/images"):
        body["files"] = {"file": ("matrix.png", MATRIX_PNG, "image/png")}
    elif method in ("POST", "PUT", "PATCH"):
        body["json"] = {}
    response = client.send(client.build_request(method, url, headers=headers, **body), stream=True)
    try:
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            response.read()  # a stream that was let through never ends: its status and headers are the answer
    finally:
        response.close()
    return response


def assert_let_through(response: httpx.Response, who: str, operation: tuple[str, str]) -> None:
    assert response.status_code not in (401, 403), f"{who} refused on {op_id(operation)}: {response.text}"
    assert response.status_code < 500, f"{who} got {response.status_code} on {op_id(operation)}: {response.text}"


def assert_status(response: httpx.Response, status: int, who: str, operation: tuple[str, str]) -> None:
    assert response.status_code == status, \
        f"{who} on {op_id(operation)}: expected {status}, got {response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json")


def test_every_live_operation_has_an_expectation(live_operations: dict[tuple[str, str], dict[str, Any]]) -> None:
    live = set(live_operations)
    assert not live - set(EXPECTED), f"routes without an expected rule: {sorted(live - set(EXPECTED))}"
    assert not set(EXPECTED) - live, f"expected routes the API no longer has: {sorted(set(EXPECTED) - live)}"


@pytest.mark.parametrize("operation", OPERATIONS, ids=op_id)
def test_without_credentials(operation: tuple[str, str], anonymous: httpx.Client,
                             live_operations: dict[tuple[str, str], dict[str, Any]]) -> None:
    answer = call(anonymous, operation, live_operations, {})
    if EXPECTED[operation].public:
        assert_let_through(answer, "anonymous", operation)
    else:
        assert_status(answer, 401, "anonymous", operation)
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation", OPERATIONS, ids=op_id)
def test_role(operation: tuple[str, str], role: str, stack: Stack, anonymous: httpx.Client,
              users: dict[str, dict[str, str]], live_operations: dict[tuple[str, str], dict[str, Any]]) -> None:
    expect = EXPECTED[operation]
    # Logging out revokes the token it is sent with: spend a user of its own on it.
    headers = stack.user(role) if operation == LOGOUT else users[role]
    answer = call(anonymous, operation, live_operations, headers)
    if expect.public or role in expect.roles:
        assert_let_through(answer, role, operation)
    else:
        assert_status(answer, 403, role, operation)
    if operation == LOGOUT:
        assert answer.status_code == 204, answer.text
        assert anonymous.get("/api/auth/profile", headers=headers).status_code == 401


KEY_WALKS = [(scope, "bearer") for scope in KEY_SCOPES] + [("ingress:read", "x-api-key")]


@pytest.mark.parametrize(("scope", "style"), KEY_WALKS, ids=[f"{s}-{h}" for s, h in KEY_WALKS])
@pytest.mark.parametrize("operation", OPERATIONS, ids=op_id)
def test_api_key(operation: tuple[str, str], scope: str, style: str, anonymous: httpx.Client,
                 api_keys: dict[str, str], live_operations: dict[tuple[str, str], dict[str, Any]]) -> None:
    key = api_keys[scope]
    headers = {"Authorization": f"Bearer {key}"} if style == "bearer" else {"X-API-Key": key}
    expect = EXPECTED[operation]
    answer = call(anonymous, operation, live_operations, headers)
    who = f"an API key with {scope} ({style})"
    if expect.public or expect.scope == scope or scope in expect.key_scopes:
        assert_let_through(answer, who, operation)
    else:
        assert_status(answer, 403, who, operation)


def ws_answer(stack: Stack, path: str, *, headers: dict[str, str] | None = None, token: str | None = None
              ) -> dict[str, Any]:
    """The first message /ws sends after a subscribe to the default topics: `subscribed` or an `error`."""
    url = stack.api_url.replace("http://", "ws://") + path
    with connect(url, additional_headers=headers or {}, open_timeout=10) as socket:
        socket.send(orjson.dumps({"type": "subscribe", **({"token": token} if token else {})}).decode())
        answer: dict[str, Any] = orjson.loads(socket.recv(timeout=10))
        if answer["type"] == "error":
            with pytest.raises(ConnectionClosed) as closed:
                socket.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000 + answer["status"]
        return answer


@pytest.mark.parametrize("path", sorted(WEBSOCKETS))
def test_websocket_without_credentials(stack: Stack, path: str) -> None:
    assert ws_answer(stack, path)["status"] == 401


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", sorted(WEBSOCKETS))
def test_websocket_role(stack: Stack, users: dict[str, dict[str, str]], path: str, role: str) -> None:
    token = users[role]["Authorization"].removeprefix("Bearer ")
    by_header, by_message = ws_answer(stack, path, headers=users[role]), ws_answer(stack, path, token=token)
    for answer in (by_header, by_message):
        if role in WEBSOCKETS[path].roles:
            assert answer["type"] == "subscribed", answer
        else:
            assert answer["status"] == 403, answer


@pytest.mark.parametrize("scope", KEY_SCOPES)
@pytest.mark.parametrize("path", sorted(WEBSOCKETS))
def test_websocket_api_key(stack: Stack, api_keys: dict[str, str], path: str, scope: str) -> None:
    answer = ws_answer(stack, path, token=api_keys[scope])
    if scope in WEBSOCKETS[path].key_scopes or scope == WEBSOCKETS[path].scope:
        assert answer["type"] == "subscribed", answer
    else:
        assert answer["status"] == 403, answer


# ---- topic by topic: /api/events, /api/stream and /ws read a topic only where its REST reads may be read -----------

ALL_ROLES = frozenset(ROLES)
# (roles, the API-key scope) per topic, the spec of README "Who may stream what", written independently of
# api/identity/rules.TOPIC_READ; the Faust changelogs are admin's (read through /api/events only).
TOPICS: dict[str, tuple[frozenset[str], str | None]] = {
    "alerts.events": (ALL_ROLES, "alerts:read"),
    "alerts.commands": (ALL_ROLES, "alerts:read"),
    "alerts.rules": (frozenset({"admin"}), None),
    "cylinders.events": (ALL_ROLES, "cylinders:read"),
    "cylinders.scans": (ALL_ROLES, "cylinders:read"),
    "devices.registry": (ALL_ROLES, "devices:read"),
    "devices.samples": (ALL_ROLES, "devices:read"),
    "devices.rates": (ALL_ROLES, "devices:read"),
    "cameras.checks": (ALL_ROLES, "devices:read"),
    "ingress.readings": (ANALYSTS, "ingress:read"),  # workers read only their own readings: no feed
    "ingress.evaluations": (ANALYSTS, "ingress:read"),
    "files": (ANALYSTS, "files:read"),  # workers download only their own files: no feed
    "audit": (frozenset({"admin"}), None),
    "deadletter": (frozenset({"admin"}), None),
    "images.uploads": (ANALYSTS, "images:read"),  # uploads name ingress readings: no feed for workers
    "images.analyses": (ANALYSTS, "images:read"),
    "images.snapshots": (ALL_ROLES, "images:read"),
    "images.health": (ALL_ROLES, "images:read"),
    "analytics.points": (ANALYSTS, "ml:read"),
    "analytics.scores": (ANALYSTS, "ml:read"),
    "analytics.rollups": (ANALYSTS, "ml:read"),
    "analytics.anomalies": (ANALYSTS, "ml:read"),
    "analytics.commands": (frozenset({"admin", "operator"}), None),
}
CHANGELOGS = tuple(f"opsledger-processors-{table}-changelog"
                   for table in ("cylinders", "alerts", "devices", "camera-health", "analytics", "topology"))
TOPIC_SCOPES = sorted({scope for _, scope in TOPICS.values() if scope is not None})


def test_every_topic_has_an_expectation() -> None:
    from infra.topics import platform_topics
    from schemas.catalog import all_topics

    assert set(all_topics()) == set(TOPICS), "a topic without an expectation (or one that no longer exists)"
    assert set(platform_topics("opsledger-processors")) == set(TOPICS) | set(CHANGELOGS)


@pytest.fixture(scope="module")
def event_keys(api: httpx.Client) -> dict[str, str]:
    """Keys with `events:read` and one topic scope each (and one with `events:read` alone, under "")."""
    keys = {}
    for scope in ["", *TOPIC_SCOPES]:
        scopes = ["events:read", *([scope] if scope else [])]
        made = api.post("/api/auth/api-keys", json={"name": f"topics-{scope}-{secrets.token_hex(3)}",
                                                    "scopes": scopes})
        assert made.status_code == 201, made.text
        keys[scope] = made.json()["key"]
    return keys


def stream_status(client: httpx.Client, topic: str, headers: dict[str, str]) -> int:
    with client.stream("GET", "/api/stream", params={"topic": topic}, headers=headers) as answer:
        return answer.status_code


def ws_topic(stack: Stack, topic: str, token: str) -> dict[str, Any]:
    url = stack.api_url.replace("http://", "ws://") + "/ws"
    with connect(url, open_timeout=10) as socket:
        socket.send(orjson.dumps({"type": "subscribe", "token": token, "topics": [topic]}).decode())
        answer: dict[str, Any] = orjson.loads(socket.recv(timeout=10))
        return answer


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("topic", sorted(TOPICS) + list(CHANGELOGS))
def test_events_by_topic_and_role(topic: str, role: str, anonymous: httpx.Client,
                                  users: dict[str, dict[str, str]]) -> None:
    roles = TOPICS[topic][0] if topic in TOPICS else frozenset({"admin"})
    answer = anonymous.get("/api/events", params={"topic": topic, "limit": 5}, headers=users[role])
    if role in roles & ANALYSTS:
        assert answer.status_code == 200, answer.text
        assert all(item["topic"] == topic for item in answer.json()["items"])
    else:
        assert_status(answer, 403, role, ("GET", f"/api/events?topic={topic}"))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("topic", sorted(TOPICS))
def test_stream_and_socket_by_topic_and_role(topic: str, role: str, stack: Stack, anonymous: httpx.Client,
                                             users: dict[str, dict[str, str]]) -> None:
    allowed = role in TOPICS[topic][0]
    assert stream_status(anonymous, topic, users[role]) == (200 if allowed else 403), (role, topic)
    answer = ws_topic(stack, topic, users[role]["Authorization"].removeprefix("Bearer "))
    assert answer["type"] == "subscribed" if allowed else answer.get("status") == 403, (role, topic, answer)


@pytest.mark.parametrize("scope", ["", *TOPIC_SCOPES])
@pytest.mark.parametrize("topic", sorted(TOPICS) + list(CHANGELOGS))
def test_topics_by_api_key(topic: str, scope: str, stack: Stack, anonymous: httpx.Client,
                           event_keys: dict[str, str]) -> None:
    """A key reads a topic's events (archive and live) with the topic's own read scope; `events:read` alone
    opens no topic."""
    key = event_keys[scope]
    allowed = topic in TOPICS and bool(scope) and TOPICS[topic][1] == scope
    headers = {"Authorization": f"Bearer {key}"}
    answer = anonymous.get("/api/events", params={"topic": topic, "limit": 5}, headers=headers)
    assert answer.status_code == (200 if allowed else 403), (scope, topic, answer.text)
    if topic in TOPICS:
        assert stream_status(anonymous, topic, headers) == (200 if allowed else 403), (scope, topic)
        subscribed = ws_topic(stack, topic, key)
        assert subscribed["type"] == "subscribed" if allowed else subscribed.get("status") == 403, subscribed


def test_unfiltered_events_hold_only_readable_topics(stack: Stack, api: httpx.Client,
                                                     users: dict[str, dict[str, str]]) -> None:
    """Without a topic filter a viewer pages through the archive and never meets the audit log, rules and
    silences, dead letters, changelogs or discovery results; nor can it fetch one of them by id."""
    hidden = {"audit", "alerts.rules", "deadletter", *CHANGELOGS}
    reading = api.post("/api/ingress", json=reading_body())
    assert reading.status_code == 202, reading.text
    token = reading.json()["consistency_token"]
    admin_page = api.get("/api/events", params={"topic": "audit", "limit": 1, "after": token}).json()["items"]
    assert admin_page, "the admin's own commands are audited"
    seen: set[str] = set()
    cursor = None
    for _ in range(20):
        page = httpx.get(f"{stack.api_url}/api/events", headers=users["viewer"], timeout=15,
                         params={"limit": 1000, "after": token, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        seen |= {item["topic"] for item in page.json()["items"]}
        assert not any(item["type"] == "DeviceDiscovered" for item in page.json()["items"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen and not seen & hidden, seen
    one = httpx.get(f"{stack.api_url}/api/events/{admin_page[0]['event_id']}", headers=users["viewer"], timeout=15)
    assert one.status_code == 404, one.text
    assert httpx.get(f"{stack.api_url}/api/events", headers=users["viewer"], timeout=15,
                     params={"type": "DeviceDiscovered"}).status_code == 403
