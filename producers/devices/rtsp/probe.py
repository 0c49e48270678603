"""Probe an IP camera's RTSP stream: OPTIONS then DESCRIBE (RFC 2326) over TCP, answering 401 with Digest or Basic.

A probe never raises for what the network or the camera does: refused, unreachable, silent or odd peers all give a
`ProbeResult` with `error` set. Credentials, from the arguments or the URL, are sent only in Authorization headers;
the request line, the result and the log carry the URL without them (`redact_url`).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

import structlog

from producers.devices.outbound import Outbound, OutboundRefused
from producers.devices.rtsp.auth import AuthError
from producers.devices.rtsp.client import RtspProtocolError, RtspSession, Target
from producers.devices.rtsp.sdp import video_format
from schemas.devices.cameras import masked_url

log = structlog.get_logger(__name__)

DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322}


@dataclass(frozen=True, slots=True)
class ProbeResult:
    reachable: bool  # an RTSP server answered (whatever its status)
    status_code: int | None  # the last RTSP status received
    latency_ms: float | None  # from opening the connection to the last answer
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    error: str | None = None


def _split(url: str) -> tuple[str, str, str, str, str, str]:
    """(scheme, userinfo, hostport, path, query, fragment); refuses anything but rtsp:// and rtsps://."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"not an RTSP URL (scheme {scheme or 'missing'!r}); use rtsp:// or rtsps://")
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if not hostport:
        raise ValueError("RTSP URL has no host")
    return scheme, userinfo, hostport, parts.path, parts.query, parts.fragment


def redact_url(url: str) -> str:
    """The URL without user:password@ and with password-like values masked (masked_url); safe to store and log."""
    scheme, _, hostport, path, query, fragment = _split(url)
    return masked_url(urlunsplit((scheme, hostport, path, query, fragment)))


def _target(url: str, username: str | None, password: str | None) -> Target:
    scheme, userinfo, hostport, path, query, _ = _split(url)
    parts = urlsplit(f"{scheme}://{hostport}")
    if not parts.hostname:
        raise ValueError("RTSP URL has no host")
    url_user, has_password, url_password = userinfo.partition(":")
    if username is None and userinfo:
        username, password = unquote(url_user), unquote(url_password) if has_password else password
    if any(char in (value or "") for value in (username, password) for char in "\r\n\x00"):
        raise ValueError("credentials must not contain CR, LF or NUL")  # they would split the request headers
    request_url = urlunsplit((scheme, hostport, path or "/", query, ""))  # the camera's own query is kept
    return Target(parts.hostname, parts.port or DEFAULT_PORTS[scheme], scheme == "rtsps", request_url,
                  username, password)


def _failed(session: RtspSession, error: str) -> ProbeResult:
    """A probe cut short: reachable if the camera had answered anything before."""
    return ProbeResult(reachable=session.last_status is not None, status_code=session.last_status, latency_ms=None,
                       error=error)


def _unauthorized(session: RtspSession, latency_ms: float) -> ProbeResult:
    has_credentials = session.target.username is not None and session.target.password is not None
    error = "authentication failed" if has_credentials else "authentication required"
    return ProbeResult(reachable=True, status_code=401, latency_ms=latency_ms, error=error)


async def _exchange(session: RtspSession, started: float) -> ProbeResult:
    def elapsed() -> float:
        return round((time.monotonic() - started) * 1000, 1)

    await session.connect()
    options = await session.request("OPTIONS")
    if options.status == 401:
        return _unauthorized(session, elapsed())
    # Some cameras refuse OPTIONS yet serve DESCRIBE, so its other statuses do not stop the probe
    described = await session.request("DESCRIBE", {"Accept": "application/sdp"})
    latency_ms = elapsed()
    if described.status == 401:
        return _unauthorized(session, latency_ms)
    if described.status != 200:
        return ProbeResult(reachable=True, status_code=described.status, latency_ms=latency_ms,
                           error=f"DESCRIBE answered {described.status}")  # the peer's own words are not repeated
    found = video_format(described.body.decode("utf-8", errors="replace"))
    if found is None:
        return ProbeResult(reachable=True, status_code=200, latency_ms=latency_ms, error="no video stream in SDP")
    return ProbeResult(reachable=True, status_code=200, latency_ms=latency_ms, codec=found.codec,
                       width=found.width, height=found.height)


async def probe(url: str, *, username: str | None, password: str | None, timeout_s: float,
                outbound: Outbound) -> ProbeResult:
    """Check one stream; explicit credentials win over those in the URL; only where `outbound` permits.

    Raises ValueError only for a URL that is not rtsp:// or rtsps:// (or has no host or a bad port).
    """
    target = _target(url, username, password)
    session = RtspSession(target, outbound)
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout_s):
            result = await _exchange(session, started)
    except TimeoutError:
        result = _failed(session, f"timed out after {timeout_s:g}s")
    except OutboundRefused as refused:
        result = _failed(session, str(refused))
    except AuthError as error:  # the camera answered 401 with a challenge we cannot meet
        result = ProbeResult(reachable=True, status_code=401, latency_ms=None, error=str(error))
    except RtspProtocolError as error:
        result = _failed(session, str(error))
    except ConnectionRefusedError:
        result = _failed(session, "connection refused")
    except ssl.SSLError as error:
        result = _failed(session, f"TLS failed: {error.reason or error}")
    except asyncio.IncompleteReadError:
        result = _failed(session, "connection closed mid-answer")
    except OSError as error:  # unreachable network, unknown host, reset connection, ...
        result = _failed(session, error.strerror or type(error).__name__)
    except ValueError as error:  # a host name that does not encode, say
        result = _failed(session, str(error) or type(error).__name__)
    finally:
        await session.close()
    log.info("rtsp probe", url=redact_url(url), reachable=result.reachable, status=result.status_code,
             latency_ms=result.latency_ms, codec=result.codec, error=result.error)
    return result
