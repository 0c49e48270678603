"""Content-addressed file storage on local disk: sha256 names, never the client's file name.

Shared by the API (uploads), the image processor (thumbnails, originals without personal metadata) and the camera
snapshot grabbers, so it lives in the kernel; every component that uses it needs the same directory
(OPSLEDGER_FILES_DIR, a shared volume in docker-compose)."""

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


# The image formats the image pipeline takes, by magic number (a decoder never sees anything else); HEIF by the
# brands of its ftyp box.
IMAGE_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
)
HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
ANY_IMAGE = "image/*"  # content type for store(): any format of IMAGE_MAGICS, WebP or HEIF


class TooLarge(Exception):
    pass


def image_format(head: bytes) -> str | None:
    """JPEG, PNG, GIF, TIFF, WEBP or HEIF by the first bytes; None for anything else."""
    for magic, name in IMAGE_MAGICS:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return "HEIF"
    return None


def content_matches(content_type: str, head: bytes) -> bool:
    """A cheap check that the bytes are what the client says they are (ANY_IMAGE: an image format we take)."""
    if content_type == ANY_IMAGE:
        return image_format(head) is not None
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


def put_bytes(root: Path, data: bytes) -> str:
    """Store bytes made here (thumbnails, a camera frame) under their sha256; a repeat is harmless."""
    sha = hashlib.sha256(data).hexdigest()
    final = path_for(root, sha)
    if final.is_file():
        return sha
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=".put-")
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
        os.replace(tmp_name, final)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return sha
