"""Live push through the real session stack: events committed after a client connects reach it over SSE and
WebSocket within a short time, a reconnect with Last-Event-ID misses nothing and repeats nothing, and streams are
authorised like the REST reads of their topics."""

from __future__ import annotations

import queue
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.sync.client import connect

from tests.helpers.support import Stack

WITHIN_S = 10.0


class SseReader:
    """Reads an open SSE response in a thread; `events` are the parsed messages, with their `id:`."""

    def __init__(self, response: httpx.Response) -> None:
        self.response, self.events, self.comments = response, [], []  # type: ignore[var-annotated]
        self.live = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            for line in self.response.iter_lines():
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    self.live.set()
                elif line == "":
                    if "data" in fields:
                        self.events.append({"id": int(fields["id"]), **orjson.loads(fields["data"])})
                    fields = {}
                else:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
        except (httpx.HTTPError, RuntimeError):
            return  # closed by the test

    def wait_for(self, what: str, check: Any, timeout: float = WITHIN_S) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in list(self.events) if check(e)]
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no {what} within {timeout} s; got {[e['type'] for e in self.events]}")


@contextmanager
def sse(stack: Stack, headers: dict[str, str], params: dict[str, str] | None = None,
        last_event_id: int | None = None) -> Iterator[SseReader]:
    extra = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
    with httpx.Client(base_url=stack.api_url, timeout=httpx.Timeout(15, read=30)) as client, \
            client.stream("GET", "/api/stream", params=params, headers={**headers, **extra}) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = SseReader(response)
        assert reader.live.wait(WITHIN_S), "the stream did not say it is live"
        yield reader


def raise_manual_alert(api: httpx.Client, summary: str) -> dict[str, Any]:
    made = api.post("/api/alerts/", params={"wait": "true"}, json={
        "subject": f"live-{secrets.token_hex(4)}", "severity": "high", "summary": summary})
    assert made.status_code == 201, made.text
    return dict(made.json())


def add_and_ship(api: httpx.Client, customer: str) -> str:
    added = api.post("/api/cylinders/add", params={"wait": "true"}, json={"count": 1, "location": "Depot 1"})
    assert added.status_code == 200, added.text
    code = str(added.json()["qr_codes"][0])
    shipped = api.post("/api/cylinders/ship", params={"wait": "true"}, json={"qr_codes": [code],
                                                                              "counterparty": customer})
    assert shipped.status_code == 200, shipped.text
    return code


def test_an_alert_raised_after_connecting_arrives_over_sse(stack: Stack, api: httpx.Client) -> None:
    viewer = stack.user("viewer")
    summary = f"live push {secrets.token_hex(4)}"
    with sse(stack, viewer, {"topic": "alerts.events", "type": "AlertRaised"}) as stream:
        started = time.monotonic()
        alert = raise_manual_alert(api, summary)
        (event,) = stream.wait_for("AlertRaised", lambda e: e["event"]["data"]["summary"] == summary)
        elapsed = time.monotonic() - started
    assert event["type"] == "AlertRaised" and event["topic"] == "alerts.events"
    assert event["seq"] == event["id"] and event["subject"] == event["event"]["subject"]
    assert elapsed < WITHIN_S
    # the consistency token makes a dashboard's re-read of the alert see the change
    answer = api.get(f"/api/alerts/{alert['alert_id']}", params={"after": event["consistency_token"]})
    assert answer.status_code == 200 and answer.json()["status"] == "firing", answer.text


def test_heartbeats_keep_a_quiet_stream_open(stack: Stack) -> None:
    subject = f"nothing-{secrets.token_hex(4)}"  # no event has it
    with sse(stack, stack.user("viewer"), {"subject": subject}) as stream:
        deadline = time.monotonic() + WITHIN_S
        while "heartbeat" not in stream.comments and time.monotonic() < deadline:
            time.sleep(0.05)
    assert "heartbeat" in stream.comments and not stream.events


def test_reconnect_with_last_event_id_misses_nothing_and_repeats_nothing(stack: Stack, api: httpx.Client) -> None:
    worker, customer = stack.user("worker"), f"live-{secrets.token_hex(4)}"
    with sse(stack, worker, {"topic": "cylinders.events"}) as first:
        codes = [add_and_ship(api, customer) for _ in range(2)]
        first.wait_for("the second shipment", lambda e: e["subject"] == codes[1] and e["type"] == "CylinderShipped")
    seen = list(first.events)
    last_seen = next(e["id"] for e in seen if e["subject"] == codes[0] and e["type"] == "CylinderAdded")
    while_away = [add_and_ship(api, customer) for _ in range(2)]  # nobody is connected now
    with sse(stack, worker, {"topic": "cylinders.events"}, last_event_id=last_seen) as again:
        later = add_and_ship(api, customer)
        again.wait_for("the shipment after reconnecting", lambda e: e["subject"] == later
                       and e["type"] == "CylinderShipped")
        resumed = list(again.events)
    ids = [e["id"] for e in resumed]
    assert ids == sorted(set(ids)) and ids[0] > last_seen, "out of order or repeated"
    expected_before = [e["id"] for e in seen if e["id"] > last_seen]
    assert ids[:len(expected_before)] == expected_before, "an event the first connection saw was lost"
    ours = [(e["subject"], e["type"]) for e in resumed]
    for code in [codes[1], *while_away, later]:
        assert ours.count((code, "CylinderAdded")) == 1 and ours.count((code, "CylinderShipped")) == 1, ours
    assert (codes[0], "CylinderAdded") not in ours  # that one was the Last-Event-ID
    # and the same through the query parameter (EventSource polyfills cannot set headers)
    with sse(stack, worker, {"topic": "cylinders.events", "last_event_id": str(last_seen)}) as by_query:
        by_query.wait_for("the resumed history", lambda e: e["subject"] == later and e["type"] == "CylinderShipped")
        assert [e["id"] for e in by_query.events][:len(ids)] == ids


@pytest.mark.parametrize(("role", "params", "status"), [
    ("viewer", {"topic": "audit"}, 403),
    ("viewer", {"type": "AuditRecorded"}, 403),
    ("worker", {"topic": "ingress.readings"}, 403),  # workers read only their own readings: no live feed
    ("operator", {"type": "DeviceDiscovered"}, 403),  # discovery is admin's
    ("viewer", {"topic": "no.such.topic"}, 400),
    ("viewer", {"type": "NoSuchEvent"}, 400),
    ("viewer", {"last_event_id": "-1"}, 422),
    ("viewer", {"last_event_id": "soon"}, 422),
])
def test_refusals_are_problems_before_the_stream_starts(stack: Stack, role: str, params: dict[str, str],
                                                        status: int) -> None:
    answer = httpx.get(f"{stack.api_url}/api/stream", params=params, headers=stack.user(role), timeout=15)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_a_bad_last_event_id_header_is_400(stack: Stack) -> None:
    answer = httpx.get(f"{stack.api_url}/api/stream", headers={**stack.user("viewer"), "Last-Event-ID": "x1"},
                       timeout=15)
    assert answer.status_code == 400 and answer.headers["content-type"].startswith("application/problem+json")


def test_a_key_streams_only_the_topics_of_its_scopes(stack: Stack, api: httpx.Client) -> None:
    key = api.post("/api/auth/api-keys", json={"name": f"live-{secrets.token_hex(3)}", "scopes": ["alerts:read"]})
    assert key.status_code == 201, key.text
    headers = {"Authorization": f"Bearer {key.json()['key']}"}
    refused = httpx.get(f"{stack.api_url}/api/stream", params={"topic": "cylinders.events"}, headers=headers,
                        timeout=15)
    assert refused.status_code == 403, refused.text
    summary = f"key push {secrets.token_hex(4)}"
    with sse(stack, headers) as stream:  # default: every topic the key may read
        raise_manual_alert(api, summary)
        stream.wait_for("AlertRaised", lambda e: e["type"] == "AlertRaised"
                        and e["event"]["data"]["summary"] == summary)
        add_and_ship(api, f"live-{secrets.token_hex(4)}")
        time.sleep(1.0)
    assert {e["topic"] for e in stream.events} <= {"alerts.events", "alerts.commands"}


def ws_url(stack: Stack) -> str:
    return stack.api_url.replace("http://", "ws://") + "/ws"


def test_websocket_receives_the_same_events(stack: Stack, api: httpx.Client) -> None:
    viewer = stack.user("viewer")
    token = viewer["Authorization"].removeprefix("Bearer ")
    summary = f"ws push {secrets.token_hex(4)}"
    with connect(ws_url(stack), open_timeout=10) as socket, \
            sse(stack, viewer, {"topic": "alerts.events"}) as stream:
        socket.send(orjson.dumps({"type": "subscribe", "token": token, "topics": ["alerts.events"]}).decode())
        subscribed = orjson.loads(socket.recv(timeout=10))
        assert subscribed == {"type": "subscribed", "topics": ["alerts.events"], "after": None}
        raise_manual_alert(api, summary)
        received: list[dict[str, Any]] = []
        deadline = time.monotonic() + WITHIN_S
        while not any(m.get("type") == "AlertRaised" and m["event"]["data"]["summary"] == summary
                      for m in received):
            message = orjson.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message["type"] == "event":  # the same JSON as an SSE message's data
                received.append(message["data"])
        (by_sse,) = stream.wait_for("the same AlertRaised", lambda e: e["event"]["data"]["summary"] == summary)
    (by_ws,) = [m for m in received if m["event"]["data"]["summary"] == summary]
    assert by_ws["seq"] == by_sse["id"] and by_ws["event"] == by_sse["event"]
    # resume over the socket too: after = the seq before it gives it again, first
    with connect(ws_url(stack), additional_headers=viewer, open_timeout=10) as socket:
        socket.send(orjson.dumps({"type": "subscribe", "topics": ["alerts.events"],
                                  "after": by_ws["seq"] - 1}).decode())
        assert orjson.loads(socket.recv(timeout=10))["type"] == "subscribed"
        again = orjson.loads(socket.recv(timeout=10))
    assert again["type"] == "event" and again["data"]["seq"] == by_ws["seq"]


@pytest.mark.parametrize(("message", "code"), [
    ({"type": "subscribe", "topics": ["audit"]}, 4403),
    ({"type": "subscribe", "topics": ["nope"]}, 4400),
    ({"type": "hello"}, 4400),
])
def test_websocket_refusals_close_with_a_problem(stack: Stack, message: dict[str, Any], code: int) -> None:
    with connect(ws_url(stack), additional_headers=stack.user("viewer"), open_timeout=10) as socket:
        socket.send(orjson.dumps(message).decode())
        answer = orjson.loads(socket.recv(timeout=10))
        assert answer["type"] == "error" and answer["status"] == code - 4000, answer
        with pytest.raises(Exception):  # noqa: B017 - ConnectionClosed, checked below
            socket.recv(timeout=10)
        assert socket.close_code == code


CHROMIUM = shutil.which("chromium")
PAGE = """<!doctype html><html><body><script>
const socket = new WebSocket(%(url)s);
socket.onopen = () => socket.send(JSON.stringify(
  {type: "subscribe", token: %(token)s, topics: ["alerts.events"], after: %(after)d}));
socket.onmessage = (message) => {
  const body = JSON.parse(message.data);
  if (body.type === "event") {
    fetch(%(report)s, {method: "POST", mode: "no-cors", body: message.data});
    socket.close();
  }
};
</script></body></html>"""


@contextmanager
def receiver() -> Iterator[tuple[str, queue.Queue[bytes]]]:
    """A local HTTP endpoint the page reports what it received to."""
    received: queue.Queue[bytes] = queue.Queue()

    class Report(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server spelling
            received.put(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Report)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/report", received
    finally:
        server.shutdown()


def test_a_real_browser_subscribes_with_its_token_in_the_first_message(stack: Stack, api: httpx.Client,
                                                                        tmp_path: Path) -> None:
    """Headless Chromium (no way to set headers on a WebSocket) authenticates in the subscribe message and gets the
    event it resumes from. `make test` installs Debian's chromium (tests/deps.sh)."""
    assert CHROMIUM, "chromium is not installed: run tests/deps.sh (apt-get install chromium)"
    summary = f"browser push {secrets.token_hex(4)}"
    with sse(stack, stack.user("viewer"), {"topic": "alerts.events"}) as stream:
        raise_manual_alert(api, summary)
        (event,) = stream.wait_for("AlertRaised", lambda e: e["event"]["data"]["summary"] == summary)
    token = stack.user("viewer")["Authorization"].removeprefix("Bearer ")
    with receiver() as (report_url, received):
        page = tmp_path / "live.html"
        page.write_text(PAGE % {"url": orjson.dumps(ws_url(stack)).decode(), "token": orjson.dumps(token).decode(),
                                "after": event["id"] - 1, "report": orjson.dumps(report_url).decode()})
        browser = subprocess.Popen(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", page.as_uri()],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            reported = orjson.loads(received.get(timeout=30))
        finally:
            browser.terminate()
            browser.wait(timeout=10)
    assert reported["type"] == "event" and reported["data"]["seq"] == event["id"]
    assert reported["data"]["event"]["data"]["summary"] == summary
