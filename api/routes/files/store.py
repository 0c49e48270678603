"""Content-addressed file storage on local disk: sha256 names, never the client's file name."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "application/pdf": (b"%PDF-",),
}


class TooLarge(Exception):
    pass


def content_matches(content_type: str, head: bytes) -> bool:
    """A cheap check that the bytes are what the client says they are."""
    if content_type == "image/webp":
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    if content_type.startswith("text/"):
        if b"\x00" in head:
            return False
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as e:  # only a multi-byte character cut at the end of the sample is fine
            return e.reason == "unexpected end of data" and e.end == len(head)
        return True
    return any(head.startswith(sig) for sig in SIGNATURES.get(content_type, ()))


def path_for(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / sha256[2:4] / sha256


class WrongContent(Exception):
    pass


def store(root: Path, source: BinaryIO, max_bytes: int, content_type: str) -> tuple[str, int]:
    """Copy `source` into the store; returns (sha256, size). Raises TooLarge past max_bytes and WrongContent when
    the bytes are not `content_type`; either way nothing is left behind."""
    root.mkdir(parents=True, exist_ok=True)
    digest, size, head = hashlib.sha256(), 0, b""
    fd, tmp_name = tempfile.mkstemp(dir=root, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as tmp:
            while chunk := source.read(1024 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge
                if len(head) < 512:
                    head += chunk[: 512 - len(head)]
                digest.update(chunk)
                tmp.write(chunk)
        if not content_matches(content_type, head):
            raise WrongContent
        sha = digest.hexdigest()
        final = path_for(root, sha)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_name, final)  # same content, same name: a repeat upload is harmless
        return sha, size
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
