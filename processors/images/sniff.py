"""Look at the raw bytes before any decoder does: what container it claims to be, where it ends, what hides inside.

A decoder happily ignores bytes it does not need, which is how a file can be a valid JPEG *and* a ZIP archive or an
HTML page (a polyglot). Served back to a browser or unpacked by another tool, that second reading is the attack, so
it is refused here, before Pillow sees the file. Scans are C-speed (regex, bytes methods, numpy) and linear, and for
JPEG and PNG they skip the compressed pixel data, which is 99% of a photo and cannot be read as markup by a browser
(which sniffs HTML only at the start of a resource), so a 12 MP photo costs a millisecond here, not fifty.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

import numpy as np

from infra.filestore import image_format

# Tags a browser or interpreter acts on. The literal '<' lets the regex engine skip ahead at memchr speed.
_MARKUP = re.compile(rb"<(?i:script|html|body|iframe|svg|object|embed|meta|\?php)[\s>/]")
_ZIP_EOCD = b"PK\x05\x06"
_PROGRESSIVE_SOF = {0xC2, 0xC6, 0xCA, 0xCE}
_PNG_PIXEL_CHUNKS = {b"IDAT", b"fdAT"}


@dataclass(frozen=True, slots=True)
class Sniffed:
    container: str | None  # JPEG, PNG, GIF, TIFF, WEBP, HEIF; None: not a format we take
    end: int | None  # offset just past the container's own end (JPEG EOI, PNG IEND, RIFF size); None: unknown
    jpeg_scans: int  # a progressive JPEG with thousands of scans costs minutes of CPU for a few kilobytes
    problem: str | None  # a reason to refuse, already worded for a person


def container_of(data: bytes) -> str | None:
    """By magic number only (infra.filestore.image_format, which the upload route checks too): a bug in an exotic
    Pillow plugin (PSD, EPS via Ghostscript, ...) is never reachable from an upload."""
    return image_format(data[:16])


@dataclass(frozen=True, slots=True)
class JpegLayout:
    first_scan: int | None  # offset of the first SOS marker; None: broken before any image data
    progressive: bool
    multi_picture: bool  # an APP2 MPF segment: more JPEGs (with their own EXIF) follow the first one's EOI


def jpeg_layout(data: bytes) -> JpegLayout:
    """Walk the segments before the first scan."""
    pos, size, progressive, multi = 2, len(data), False, False
    while pos + 4 <= size:
        if data[pos] != 0xFF:
            return JpegLayout(None, progressive, multi)  # garbage where a marker must be: broken structure
        marker = data[pos + 1]
        if marker == 0xFF:  # fill bytes before a marker are legal
            pos += 1
            continue
        if marker == 0xDA:
            return JpegLayout(pos, progressive, multi)
        progressive = progressive or marker in _PROGRESSIVE_SOF
        multi = multi or (marker == 0xE2 and data.startswith(b"MPF\x00", pos + 4))
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2:
            return JpegLayout(None, progressive, multi)
        pos += 2 + length
    return JpegLayout(None, progressive, multi)


def jpeg_end(data: bytes, first_scan: int, trust_final_eoi: bool = False) -> int | None:
    """Just past the EOI. In entropy-coded data 0xFF is always followed by 0x00 or RSTn, so the first FFD9 after the
    first scan is the end. `trust_final_eoi`: a file that ends in FFD9 and announces no further pictures (no MPF)
    is taken to end there, which skips a pass over the pixel data; a second JPEG glued on is then not seen."""
    if trust_final_eoi and data.endswith(b"\xff\xd9"):
        return len(data)
    found = _markers_after(data, first_scan, 0xD9)
    return int(found[0]) + 2 if found.size else None


def jpeg_scans(data: bytes, first_scan: int) -> int:
    return int(_markers_after(data, first_scan, 0xDA).size)


def _markers_after(data: bytes, start: int, marker: int) -> np.ndarray:
    window = np.frombuffer(data, dtype=np.uint8, offset=start)
    hits = np.flatnonzero((window[:-1] == 0xFF) & (window[1:] == marker))
    return hits + start


def _png_regions(data: bytes) -> tuple[list[bytes], int | None]:
    """Every chunk except compressed pixel data, and the end of IEND."""
    regions, pos, size = [data[:8]], 8, len(data)
    while pos + 12 <= size:
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind not in _PNG_PIXEL_CHUNKS:
            regions.append(data[pos : pos + 12 + length])
        pos += 12 + length
        if kind == b"IEND":
            return regions, pos if pos <= size else None
    return regions, None


def _zip_directory_at_end(data: bytes) -> bool:
    """A real ZIP end-of-central-directory record: its comment length reaches exactly to the end of the file."""
    start = max(0, len(data) - 22 - 0xFFFF)
    pos = data.rfind(_ZIP_EOCD, start)
    while pos >= start:
        if pos + 22 <= len(data):
            (comment_length,) = struct.unpack("<H", data[pos + 20 : pos + 22])
            if pos + 22 + comment_length == len(data):
                return True
        pos = data.rfind(_ZIP_EOCD, start, pos)
    return False


def sniff(data: bytes) -> Sniffed:
    container = container_of(data)
    if container is None:
        return Sniffed(None, None, 0, "not an image format we accept (JPEG, PNG, WebP, GIF, TIFF, HEIF)")
    end: int | None = None
    scans = 0
    regions: list[bytes] = [data]
    try:
        if container == "JPEG":
            layout = jpeg_layout(data)
            first_scan = layout.first_scan
            if first_scan is not None:
                end = jpeg_end(data, first_scan, trust_final_eoi=not layout.multi_picture)
                scans = jpeg_scans(data, first_scan) if layout.progressive else 1
                regions = [data[:first_scan], data[end:] if end is not None else b""]
        elif container == "PNG":
            regions, end = _png_regions(data)
            regions.append(data[end:] if end is not None else b"")
        elif container == "WEBP":
            (size,) = struct.unpack("<I", data[4:8])
            end = 8 + size + (size & 1)
    except struct.error:
        end = None
    if _zip_directory_at_end(data):
        return Sniffed(container, end, scans, "polyglot: the file is also a ZIP archive")
    for region in regions:
        markup = _MARKUP.search(region)
        if markup is not None:
            found = markup.group(0)[:10].decode("latin-1").lower()
            return Sniffed(container, end, scans, f"polyglot: the file carries markup ({found!r})")
    return Sniffed(container, end, scans, None)
