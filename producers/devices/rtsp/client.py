"""One RTSP/1.0 connection for the camera probe (RFC 2326): numbered requests, answers read with size limits."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field

from producers.devices.outbound import Outbound
from producers.devices.rtsp.auth import AuthError, Challenge, authorization, choose_challenge, parse_challenges

USER_AGENT = "opsledger-probe/1"
MAX_HEADER_LINES = 100
MAX_LINE_BYTES = 8192
MAX_BODY_BYTES = 1 << 20


class RtspProtocolError(Exception):
    """The peer answered, but not in RTSP."""


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    tls: bool
    request_url: str
    username: str | None
    password: str | None = field(repr=False)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


async def _read_line(reader: asyncio.StreamReader) -> str:
    try:
        return (await reader.readline()).decode("latin-1").strip()
    except ValueError as error:  # StreamReader.readline past its limit (LimitOverrunError is not raised from it)
        raise RtspProtocolError("answer line too long") from error


async def read_response(reader: asyncio.StreamReader) -> Response:
    status_line = await _read_line(reader)
    if not status_line:
        raise RtspProtocolError("connection closed without an answer")
    version, _, rest = status_line.partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("RTSP/") or not code.isdigit():
        raise RtspProtocolError("the peer did not answer in RTSP")  # never quoted: it could be any service's banner
    headers: list[tuple[str, str]] = []
    for _ in range(MAX_HEADER_LINES):
        line = await _read_line(reader)
        if not line:
            break
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    else:
        raise RtspProtocolError("too many header lines")
    length = next((value for key, value in headers if key == "content-length"), "0")
    if not length.isdigit() or int(length) > MAX_BODY_BYTES:
        raise RtspProtocolError("unacceptable Content-Length")
    body = await reader.readexactly(int(length))
    return Response(int(code), reason, headers, body)


class RtspSession:
    """One RTSP connection: numbered requests, one authentication retry, reconnect when the server closes."""

    def __init__(self, target: Target, outbound: Outbound) -> None:
        self.target, self.outbound = target, outbound
        self.cseq = 0
        self.challenge: Challenge | None = None
        self.nonce_count = 0
        self.last_status: int | None = None
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        """Connect to the first address of the host that outbound probes may reach (checked after resolution)."""
        _, address = await self.outbound.resolve(self.target.host, self.target.port)
        context = ssl.create_default_context() if self.target.tls else None
        self.reader, self.writer = await asyncio.open_connection(
            address, self.target.port, ssl=context, server_hostname=self.target.host if context else None,
            limit=MAX_LINE_BYTES)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(1.0):  # a TLS peer that never acknowledges the close must not hang us
                    await self.writer.wait_closed()
            self.writer = self.reader = None

    def _authorization(self, method: str) -> str | None:
        if self.challenge is None or self.target.username is None or self.target.password is None:
            return None
        self.nonce_count += 1
        return authorization(self.challenge, username=self.target.username, password=self.target.password,
                             method=method, uri=self.target.request_url, nonce_count=self.nonce_count)

    async def _send(self, method: str, extra: dict[str, str]) -> Response:
        if self.writer is None:
            await self.connect()
        assert self.reader is not None and self.writer is not None
        self.cseq += 1
        headers = {"CSeq": str(self.cseq), "User-Agent": USER_AGENT, **extra}
        credentials = self._authorization(method)
        if credentials:
            headers["Authorization"] = credentials
        lines = [f"{method} {self.target.request_url} RTSP/1.0", *(f"{k}: {v}" for k, v in headers.items())]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
        await self.writer.drain()
        response = await read_response(self.reader)
        self.last_status = response.status
        if (response.header("connection") or "").lower() == "close":
            await self.close()
        return response

    async def request(self, method: str, extra: dict[str, str] | None = None) -> Response:
        """Send once; on a 401 with credentials at hand, answer the challenge and send once more."""
        response = await self._send(method, extra or {})
        has_credentials = self.target.username is not None and self.target.password is not None
        if response.status != 401 or not has_credentials:
            return response
        challenge = choose_challenge(parse_challenges(response.all("www-authenticate")))
        if challenge is None:
            raise AuthError("the camera asks for an authentication scheme this probe does not speak")
        self.challenge, self.nonce_count = challenge, 0
        if self.reader is not None and self.reader.at_eof():
            await self.close()  # closed after the 401 without saying so
        return await self._send(method, extra or {})
