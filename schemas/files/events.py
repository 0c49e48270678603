"""Files attached to readings (stored content-addressed; the event carries metadata only)."""

from __future__ import annotations

from pydantic import Field

from schemas.envelope import Payload
from schemas.ingress.events import SHA256


class FileUploaded(Payload):
    """A file was stored under its sha256."""

    sha256: SHA256
    size_bytes: int = Field(ge=0)
    content_type: str = Field(max_length=200)
    original_name: str = Field(default="", max_length=255, description="as the client sent it; never a path")
