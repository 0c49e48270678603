"""Grab one frame from an RTSP camera as JPEG bytes, with ffmpeg in a subprocess, bounded in time and size.

ffmpeg talks to the camera through a relay on loopback (producers/images/rtsp_relay.py) and may open nothing else:
it would follow a camera's redirect anywhere, login included.

The credentials never appear in a log, an exception or ffmpeg's command line (which any local user can read in
/proc): the stream URL with the login goes to ffmpeg on its standard input, as a one-entry ffconcat script, and
whatever ffmpeg prints is redacted before it is kept. `-skip_frame nokey` makes the first frame a key frame: a P-frame
decoded without its reference would be a grey smear that health would call "blank".
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import structlog

from producers.images.rtsp_relay import relay_to

log = structlog.get_logger(__name__)

_UNSAFE_IN_SCRIPT = re.compile(r"[\x00-\x1f\x7f'\\]")
_CREDENTIALS_IN_URL = re.compile(r"(?i)\b(rtsps?|https?|rtmp)://[^/\s@]*@")


class SnapshotFailed(Exception):
    """No frame: the message is safe to log and to store (no credentials)."""


class SnapshotTimedOut(SnapshotFailed):
    pass


@dataclass(frozen=True, slots=True)
class Frame:
    jpeg: bytes
    elapsed_s: float


def checked_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("rtsp", "rtsps") or not parts.hostname:
        raise ValueError("url must be rtsp:// or rtsps:// with a host")
    if "@" in parts.netloc:
        raise ValueError("url must not carry credentials (pass username and password apart)")
    if _UNSAFE_IN_SCRIPT.search(url):
        raise ValueError("url has control characters, quotes or backslashes")
    return url


def redact(text: str, secrets: tuple[str | None, ...]) -> str:
    text = _CREDENTIALS_IN_URL.sub(lambda found: f"{found.group(1)}://***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
    return text


def ffmpeg_command(ffmpeg: str) -> list[str]:
    """The same for every camera: the URL, the login and the timeouts travel in the script on stdin."""
    return [ffmpeg, "-hide_banner", "-loglevel", "error",
            "-f", "concat", "-safe", "0", "-protocol_whitelist", "pipe,rtsp,rtp,tcp",
            "-skip_frame", "nokey", "-i", "pipe:0",
            "-map", "0:v:0", "-frames:v", "1", "-an", "-f", "image2pipe", "-c:v", "mjpeg", "-q:v", "2",
            "pipe:1"]


def concat_script(url: str, username: str | None, password: str | None, io_timeout_s: float) -> bytes:
    if username is not None:
        parts = urlsplit(url)
        login = quote(username, safe="") + (":" + quote(password, safe="") if password is not None else "")
        url = parts._replace(netloc=f"{login}@{parts.netloc}").geturl()
    lines = ["ffconcat version 1.0", f"file '{url}'",
             "option rtsp_transport tcp",  # UDP loses packets through NAT and firewalls: a torn frame
             f"option timeout {int(io_timeout_s * 1_000_000)}",  # socket I/O timeout, microseconds
             "option analyzeduration 1000000", "option probesize 1000000"]
    return ("\n".join(lines) + "\n").encode()


async def grab_frame(url: str, *, username: str | None = None, password: str | None = None,
                     timeout_s: float = 15.0, max_bytes: int = 20 * 1024 * 1024, ffmpeg: str = "ffmpeg",
                     shown: str | None = None) -> Frame:
    """One JPEG frame; raises SnapshotFailed (or SnapshotTimedOut) with a message free of credentials. `shown` is
    the URL logs and messages name (the registered one: `url` may carry secret query values)."""
    parts = urlsplit(checked_url(url))
    secrets = (username, password, parts.query or None)
    label = shown or parts._replace(query="").geturl()
    tls, io_timeout_s = parts.scheme.lower() == "rtsps", min(timeout_s, 10.0)
    started = time.monotonic()
    async with relay_to(parts.hostname or "", parts.port or (322 if tls else 554), tls=tls,
                        timeout_s=io_timeout_s) as relay:
        local = parts._replace(scheme="rtsp", netloc=f"127.0.0.1:{relay.port}").geturl()
        process = await asyncio.create_subprocess_exec(
            *ffmpeg_command(ffmpeg), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        try:
            stdout, stderr = await asyncio.wait_for(
                process.communicate(concat_script(local, username, password, io_timeout_s)), timeout_s)
        except TimeoutError:
            log.warning("snapshot.timed_out", url=label, timeout_s=timeout_s)
            raise SnapshotTimedOut(f"no frame from {label} within {timeout_s:.1f}s") from None
        finally:
            if process.returncode is None:  # timed out or cancelled: no ffmpeg left behind
                process.kill()
                await process.wait()
    if relay.refused:
        log.warning("snapshot.refused", url=label, reason=relay.refused)
        raise SnapshotFailed(f"{label}: {relay.refused}")
    elapsed = time.monotonic() - started
    said = stderr.decode("utf-8", "replace").strip().replace(f"127.0.0.1:{relay.port}", parts.netloc)
    message = redact(said, secrets)[-400:]
    if process.returncode != 0 or not stdout.startswith(b"\xff\xd8"):
        log.warning("snapshot.failed", url=label, exit=process.returncode, error=message)
        raise SnapshotFailed(f"ffmpeg exit {process.returncode}: {message or 'no frame'}")
    if len(stdout) > max_bytes:
        raise SnapshotFailed(f"frame of {len(stdout)} bytes is larger than {max_bytes}")
    log.debug("snapshot.grabbed", url=label, size_bytes=len(stdout), elapsed_s=round(elapsed, 3))
    return Frame(stdout, elapsed)
