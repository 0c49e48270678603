"""File command handlers: a stored upload becomes FileUploaded (no I/O here; the bytes are stored before)."""

from __future__ import annotations

from schemas.catalog import REGISTRY
from schemas.envelope import Envelope
from schemas.files.events import FileUploaded

SOURCE = "api.files"


def uploaded(sha256: str, size_bytes: int, content_type: str, original_name: str, *, actor: str | None,
             correlation_id: str | None) -> Envelope:
    """The client's file name is kept for display only: never a path, no NUL, at most 255 characters (its end)."""
    name = original_name.replace("\x00", "")[-255:]
    data = FileUploaded(sha256=sha256, size_bytes=size_bytes, content_type=content_type, original_name=name)
    return REGISTRY.event(data, source=SOURCE, subject=sha256, actor=actor, correlation_id=correlation_id)
