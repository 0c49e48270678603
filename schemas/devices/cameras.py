"""IP cameras watched through their RTSP streams (issue 5): one event per probe of a stream."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import Field, field_validator

from schemas.envelope import Payload

# rtsp:// or rtsps:// (any case), a host, no credentials: what _no_credentials and rtsp_url_without_credentials take.
# U+0085 and U+FEFF are named because `\s` differs: pydantic's Rust regex counts U+0085, the document's ECMA U+FEFF
RTSP_URL = r"^[Rr][Tt][Ss][Pp][Ss]?://[^/@?#\[\]\s\x00\x85\uFEFF]+(?:[/?#][^\s\x00\x85\uFEFF]*)?$"

# names that say their value is a secret, in a query (`?access_token=`, `&pwd=`) or in a path's `name=value` pieces
# (XMEye and its clones: `/user=admin_password=S_channel=1_stream=0.sdp`); "REDACTED" replaces the value
SECRET_WORDS = ("pass", "pwd", "token", "auth", "key", "secret", "sig", "cred")
SECRET_PIECE = re.compile(r"(?i)([a-z0-9]*(?:" + "|".join(SECRET_WORDS) + r")[a-z0-9]*=)([^&_/;?#]*)")


def secret_name(name: str) -> bool:
    return any(word in name.lower() for word in SECRET_WORDS)


def masked_url(url: str) -> str:
    """The URL with every password-like value in its path and query replaced by REDACTED (its userinfo as it is:
    callers refuse it or strip it). Safe to publish, store in events and log; the full URL is kept as a secret."""
    parts = urlsplit(url)
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(secret_name(key) for key, _ in pairs):
        query = urlencode([(key, "REDACTED" if secret_name(key) else value) for key, value in pairs], safe="/:,")
    return urlunsplit((parts.scheme, parts.netloc, SECRET_PIECE.sub(r"\1REDACTED", parts.path),
                       SECRET_PIECE.sub(r"\1REDACTED", query), parts.fragment))


class CameraStreamChecked(Payload):
    """A probe (RTSP OPTIONS + DESCRIBE) of one camera stream ran: what answered, how fast, and what it streams."""

    camera_id: str = Field(min_length=1, max_length=100)
    checked_at: datetime
    url: str = Field(min_length=1, max_length=2000, description="rtsp:// or rtsps:// URL, never with credentials")
    reachable: bool = Field(description="an RTSP server answered, whatever its status")
    status_code: int | None = Field(default=None, ge=100, le=999, description="the last RTSP status received")
    latency_ms: float | None = Field(default=None, ge=0)
    codec: str | None = Field(default=None, max_length=40, description="SDP encoding name: H264, H265, MJPEG, ...")
    width: int | None = Field(default=None, gt=0, le=65535)
    height: int | None = Field(default=None, gt=0, le=65535)
    error: str | None = Field(default=None, max_length=500)

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("rtsp", "rtsps"):
            raise ValueError("url must be rtsp:// or rtsps://")
        if "@" in parts.netloc:
            raise ValueError("url must not carry credentials (redact it first)")
        return url


def rtsp_url_without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("rtsp", "rtsps"):
        raise ValueError("url must be rtsp:// or rtsps://")
    if "@" in parts.netloc:
        raise ValueError("url must not carry credentials (send username and password apart)")
    if not parts.hostname:
        raise ValueError("url has no host")
    if parts.port == 0:  # reading .port also refuses ports out of range and non-numeric ones
        raise ValueError("url has port 0")
    return url


class CameraSpec(Payload):
    """A camera as registered. Its username and password are stored encrypted (device_secrets), never here."""

    name: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=8, max_length=2000, description="rtsp:// or rtsps://, without credentials")
    location: str | None = Field(default=None, max_length=200)
    probe_interval_s: int = Field(default=60, ge=5, le=86_400)
    snapshot_interval_s: int | None = Field(default=None, ge=10, le=86_400,
                                            description="grab a frame this often into the image pipeline; None: never")
    credentials_version: int | None = Field(default=None, ge=1, description="None: the stream needs no login")

    @field_validator("url")
    @classmethod
    def _rtsp(cls, url: str) -> str:
        return rtsp_url_without_credentials(url)


class CameraRegistered(CameraSpec):
    """A camera was added (version 1)."""

    camera_id: str = Field(min_length=1, max_length=100)
    version: int = Field(ge=1, le=1)
    at: datetime


class CameraUpdated(CameraSpec):
    """A camera's registration changed; `version` is the new version."""

    camera_id: str = Field(min_length=1, max_length=100)
    version: int = Field(ge=2)
    at: datetime


class CameraRemoved(Payload):
    """A camera left the registry (its secrets were deleted with it)."""

    camera_id: str = Field(min_length=1, max_length=100)
    version: int = Field(ge=2)
    at: datetime
