"""A loopback relay between ffmpeg and one camera, so that ffmpeg can reach no other address.

ffmpeg's RTSP client follows a 3xx reply to wherever its Location points (libavformat/rtsp.c; no option turns that
off) and keeps the login it was given for the new host. A camera, or anything on the path to it, could send the
snapshot, stored credentials and all, to any address, past the outbound policy that only looked at the first one
(producers/devices/outbound.py). So ffmpeg is pointed at this relay on 127.0.0.1. The relay connects only to the
camera's pinned, permitted address and passes the RTSP conversation through (interleaved over TCP: RTP packets travel
on the same connection). It reads every camera message and ends the conversation at the first redirect, before
ffmpeg sees it. For rtsps:// the relay is the TLS client and ffmpeg speaks plain RTSP on loopback only. The relay
does not verify the camera's certificate; ffmpeg's default did not either, and cameras' certificates are
self-signed.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from producers.devices.rtsp.client import MAX_BODY_BYTES

MAX_HEAD = 64 * 1024  # the status line and headers of one camera message


class Refused(Exception):
    """The camera said something the relay does not pass on; the message is safe to log (no Location)."""


@dataclass
class Relay:
    port: int = 0
    refused: str | None = None  # why the relay ended a conversation, for the snapshot's error
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)


def _tls() -> ssl.SSLContext:
    """A client context that verifies nothing, so it loads no trust store either."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                size = int(value.strip())
            except ValueError:
                raise Refused("the camera sent a malformed Content-Length") from None
            if not 0 <= size <= MAX_BODY_BYTES:
                raise Refused(f"the camera sent a body of {size} bytes")
            return size
    return 0


def _check(head: bytes) -> None:
    """Refuse a redirect as ffmpeg would read one: it takes the first line's second word as the status, with
    atoi (the first word need not say RTSP/1.0; "302abc" is 302)."""
    words = head.split(b"\r\n", 1)[0].split()
    status = re.match(rb"[+-]?(\d+)", words[1]) if len(words) > 1 else None
    if status is not None and 300 <= int(status[1]) <= 399:
        raise Refused(f"the camera answered RTSP {int(status[1])}, a redirect; snapshots follow no redirects")


async def _from_camera(camera: asyncio.StreamReader, ffmpeg: asyncio.StreamWriter) -> None:
    """The camera's messages, one at a time: `$`-framed interleaved packets, or RTSP replies and requests."""
    while True:
        try:
            lead = await camera.readexactly(1)
        except asyncio.IncompleteReadError:
            return
        if lead in b"\r\n":  # a blank line between messages: some servers send them
            message = lead
        elif lead == b"$":
            header = await camera.readexactly(3)
            message = lead + header + await camera.readexactly(int.from_bytes(header[1:3], "big"))
        else:
            try:
                head = lead + await camera.readuntil(b"\r\n\r\n")
            except asyncio.LimitOverrunError:
                raise Refused("the camera sent a header block over 64 KiB") from None
            _check(head)
            message = head + await camera.readexactly(_length(head))
        ffmpeg.write(message)
        await ffmpeg.drain()


async def _to_camera(ffmpeg: asyncio.StreamReader, camera: asyncio.StreamWriter) -> None:
    while data := await ffmpeg.read(65536):
        camera.write(data)
        await camera.drain()


async def _serve(relay: Relay, host: str, port: int, tls: bool, timeout_s: float,
                 reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    task = asyncio.current_task()
    assert task is not None
    relay._tasks.add(task)
    camera_writer: asyncio.StreamWriter | None = None
    try:
        camera, to_camera = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=_tls() if tls else None, limit=MAX_HEAD), timeout_s)
        camera_writer = to_camera
        both = [asyncio.ensure_future(_to_camera(reader, to_camera)),
                asyncio.ensure_future(_from_camera(camera, writer))]
        try:
            done, _ = await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
            for finished in done:
                finished.result()
        finally:
            for pending in both:
                pending.cancel()
            await asyncio.gather(*both, return_exceptions=True)
    except Refused as why:
        relay.refused = str(why)
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        pass  # ffmpeg sees the connection end and says so
    finally:
        for end in (writer, camera_writer):
            if end is not None:
                end.close()
        relay._tasks.discard(task)


@contextlib.asynccontextmanager
async def relay_to(host: str, port: int, *, tls: bool, timeout_s: float) -> AsyncIterator[Relay]:
    """A listener on 127.0.0.1 (`.port`) whose every connection is relayed to host:port (an address, not a name:
    the caller pinned it) for as long as the block runs."""
    relay = Relay()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _serve(relay, host, port, tls, timeout_s, reader, writer)

    listener = await asyncio.start_server(serve, "127.0.0.1", 0)
    relay.port = listener.sockets[0].getsockname()[1]
    try:
        yield relay
    finally:
        listener.close()
        for task in list(relay._tasks):
            task.cancel()
        await asyncio.gather(*relay._tasks, return_exceptions=True)
        await listener.wait_closed()
