"""The camera probe against a real RTSP server (GStreamer's gst-rtsp-server) and against bad peers on loopback."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from structlog.testing import capture_logs

from infra.bench.rtsp_server import RtspTestServer
from infra.entry.embedded import free_port
from producers.devices.outbound import Outbound
from producers.devices.rtsp.probe import ProbeResult
from producers.devices.rtsp.probe import probe as probe_anywhere

USERNAME = "camviewer"

LOOPBACK = Outbound.of("127.0.0.0/8")  # the test cameras listen on loopback, which probes refuse by default


async def probe(url: str, *, username: str | None, password: str | None, timeout_s: float) -> ProbeResult:
    return await probe_anywhere(url, username=username, password=password, timeout_s=timeout_s, outbound=LOOPBACK)


@pytest.fixture(scope="module")
def password() -> str:
    return secrets.token_urlsafe(12)


@pytest.fixture(scope="module")
def open_camera() -> Iterator[RtspTestServer]:
    with RtspTestServer() as server:
        yield server


@pytest.fixture(scope="module", params=["digest", "basic"])
def secured_camera(request: pytest.FixtureRequest, password: str) -> Iterator[RtspTestServer]:
    with RtspTestServer(username=USERNAME, password=password, method=request.param) as server:
        yield server


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A TCP server that accepts connections and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_an_open_stream_reports_h264_at_640x480(open_camera: RtspTestServer) -> None:
    result = await probe(open_camera.url, username=None, password=None, timeout_s=10)
    assert result.error is None
    assert (result.reachable, result.status_code, result.codec) == (True, 200, "H264")
    assert (result.width, result.height) == (640, 480)
    assert result.latency_ms is not None and 0 < result.latency_ms < 10_000


async def test_repeated_probes_keep_answering(open_camera: RtspTestServer) -> None:
    results = [await probe(open_camera.url, username=None, password=None, timeout_s=10) for _ in range(5)]
    assert [r.status_code for r in results] == [200] * 5


async def test_right_credentials_get_200_after_the_401_challenge(secured_camera: RtspTestServer,
                                                                 password: str) -> None:
    anonymous = await probe(secured_camera.url, username=None, password=None, timeout_s=10)
    assert (anonymous.reachable, anonymous.status_code, anonymous.error) == (True, 401, "authentication required")

    result = await probe(secured_camera.url, username=USERNAME, password=password, timeout_s=10)
    assert (result.reachable, result.status_code, result.error) == (True, 200, None)
    assert (result.codec, result.width, result.height) == ("H264", 640, 480)


async def test_credentials_in_the_url_work_and_never_reach_the_result_or_the_log(secured_camera: RtspTestServer,
                                                                                  password: str) -> None:
    url = secured_camera.url.replace("rtsp://", f"rtsp://{USERNAME}:{password}@")
    with capture_logs() as logs:
        result = await probe(url, username=None, password=None, timeout_s=10)
    assert (result.status_code, result.codec) == (200, "H264")
    assert password not in repr(result)
    assert logs and all(password not in repr(entry) for entry in logs)
    assert logs[-1]["url"] == secured_camera.url


async def test_a_wrong_password_is_reachable_with_401(secured_camera: RtspTestServer) -> None:
    result = await probe(secured_camera.url, username=USERNAME, password="not-" + secrets.token_hex(4), timeout_s=10)
    assert (result.reachable, result.status_code, result.error) == (True, 401, "authentication failed")
    assert result.codec is None


async def test_nothing_listening_is_unreachable_at_once() -> None:
    started = time.monotonic()
    result = await probe(f"rtsp://127.0.0.1:{free_port()}/stream", username=None, password=None, timeout_s=5)
    assert time.monotonic() - started < 1
    assert (result.reachable, result.status_code, result.error) == (False, None, "connection refused")


async def test_a_peer_that_never_answers_times_out(silent_port: int) -> None:
    started = time.monotonic()
    result = await probe(f"rtsp://127.0.0.1:{silent_port}/stream", username="u", password="p", timeout_s=0.5)
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 2
    assert (result.reachable, result.status_code, result.error) == (False, None, "timed out after 0.5s")


async def test_a_peer_that_is_not_rtsp_is_unreachable() -> None:
    async def answer_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer_http, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        result = await probe(f"rtsp://127.0.0.1:{port}/", username=None, password=None, timeout_s=5)
    finally:
        server.close()
        await server.wait_closed()
    assert not result.reachable and result.error == "the peer did not answer in RTSP"  # its words are not quoted
