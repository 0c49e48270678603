"""Real receivers for notification tests: an SMTP server (aiosmtpd, in its own thread) and an HTTP server (stdlib,
in its own thread) that record what arrives and can be told to fail the first N times, always, or slowly."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from aiosmtpd.controller import Controller

from infra.entry.embedded import free_port
from projections.alerts.notify.webhook import SIGNATURE_HEADER, verify


@dataclass
class Behaviour:
    fail_first: int = 0  # answer the first N deliveries with a temporary failure
    always_fail: bool = False
    permanent: bool = False  # fail with a permanent code (SMTP 550, HTTP 400) instead of a temporary one
    delay_s: float = 0.0
    tries: int = 0

    def verdict(self) -> bool:
        """True: take this delivery; False: refuse it (counts as a try either way)."""
        self.tries += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        return not (self.always_fail or self.tries <= self.fail_first)


@dataclass
class SmtpReceiver:
    behaviour: Behaviour = field(default_factory=Behaviour)
    accepted: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    _controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        with self.lock:
            ok = self.behaviour.verdict()
        if not ok:
            return "550 5.7.1 refused" if self.behaviour.permanent else "451 4.3.0 try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.accepted.append(message)
        return "250 OK"

    def start(self) -> SmtpReceiver:
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()

    def ids(self) -> Counter[str]:
        with self.lock:
            return Counter(str(m["Message-ID"]) for m in self.accepted)


@dataclass
class Posted:
    headers: dict[str, str]
    body: bytes
    signature_ok: bool

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class HttpReceiver:
    secret: str
    behaviour: Behaviour = field(default_factory=Behaviour)
    accepted: list[Posted] = field(default_factory=list)
    seen: list[Posted] = field(default_factory=list)  # every request, refused ones too
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def start(self) -> HttpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                posted = Posted(dict(self.headers.items()), body,
                                verify(receiver.secret, self.headers.get(SIGNATURE_HEADER, ""), body,
                                       now=time.time()))
                with receiver.lock:
                    receiver.seen.append(posted)
                    ok = receiver.behaviour.verdict()
                    if ok:
                        receiver.accepted.append(posted)
                status = 200 if ok else (400 if receiver.behaviour.permanent else 503)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def ids(self) -> Counter[str]:
        with self.lock:
            return Counter(p.headers["Idempotency-Key"] for p in self.accepted)
