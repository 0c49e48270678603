"""Remove where a photo was taken and which body and lens took it, without touching a single pixel byte.

Rewrites container metadata only: a JPEG's segments before the first scan, a PNG's chunks, a WebP's RIFF chunks. The
compressed image data is copied byte for byte, so the decoded pixels are identical. The EXIF is rebuilt by Pillow's
own writer (Pillow is kept up to date; piexif has had no release since 2019), which also drops the IFD1 thumbnail:
an embedded thumbnail has leaked the uncropped original before, so losing it is a feature.
Segments we do not know are dropped (an allowlist): vendor APPn blocks and XMP carry serials and GPS as well.
"""

from __future__ import annotations

import struct
import zlib

from PIL import ExifTags, Image

from processors.images.sniff import container_of, jpeg_end

GPS_IFD = 0x8825
# Personal or identifying tags of the Exif IFD: serials, owner, and the opaque maker note that holds more serials
EXIF_PRIVATE = (0xA431, 0xA435, 0xA430, 0x927C)  # BodySerialNumber, LensSerialNumber, CameraOwnerName, MakerNote
IFD0_PRIVATE = (GPS_IFD, 0xC62F, 0x9C9D)  # GPSInfo pointer, CameraSerialNumber (DNG), XPAuthor
_EXIF_HEADER = b"Exif\x00\x00"
_JPEG_KEEP_APP = {0xE0: (b"JFIF\x00", b"JFXX\x00"), 0xE2: (b"ICC_PROFILE\x00",), 0xEE: (b"Adobe",)}
_PNG_XMP_KEYS = (b"XML:com.adobe.xmp", b"Raw profile type exif", b"Raw profile type APP1", b"Raw profile type xmp")


class StripUnsupported(ValueError):
    """This container's metadata cannot be rewritten in place: publish thumbnails, keep the original private."""


def clean_exif(raw: bytes) -> bytes | None:
    """EXIF (with or without the 'Exif\\0\\0' header) minus GPS and serials; None: nothing worth keeping."""
    body = raw[len(_EXIF_HEADER):] if raw.startswith(_EXIF_HEADER) else raw
    try:
        exif = Image.Exif()
        exif.load(body)
        sub = exif.get_ifd(ExifTags.IFD.Exif)
        for tag in EXIF_PRIVATE:
            sub.pop(tag, None)
        for tag in IFD0_PRIVATE:
            exif.pop(tag, None)
        cleaned = exif.tobytes()
    except Exception:
        # Unreadable or unwritable EXIF: losing it beats leaking it. Keep only how to show the picture upright.
        orientation = _orientation_only(body)
        if orientation is None:
            return None
        minimal = Image.Exif()
        minimal[0x0112] = orientation
        return minimal.tobytes()
    return cleaned


def _orientation_only(body: bytes) -> int | None:
    try:
        exif = Image.Exif()
        exif.load(body)
        value = exif.get(0x0112)
    except Exception:
        return None
    return value if value in range(1, 9) else None


def _jpeg(data: bytes) -> bytes:
    out = [data[:2]]
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise StripUnsupported("JPEG structure is broken before the first scan")
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segment, payload = data[pos : pos + 2 + length], data[pos + 4 : pos + 2 + length]
        pos += 2 + length
        if marker == 0xDA:  # first scan: everything from here to the EOI is image data, copied as is
            end = _end_of_image(data, pos - 2 - length)
            out.append(data[pos - 2 - length : end])
            return b"".join(out)  # trailing data (Motion Photo video, MPO images with their own GPS) is dropped
        if marker == 0xE1 and payload.startswith(_EXIF_HEADER):
            cleaned = clean_exif(payload)
            if cleaned is not None and len(cleaned) + 2 <= 0xFFFF:
                out.append(b"\xff\xe1" + struct.pack(">H", len(cleaned) + 2) + cleaned)
        elif 0xE0 <= marker <= 0xEF:
            if payload.startswith(_JPEG_KEEP_APP.get(marker, ())):
                out.append(segment)
        else:
            out.append(segment)  # tables, frame header, restart interval, comments
    raise StripUnsupported("JPEG has no image data")


def _end_of_image(data: bytes, scan_start: int) -> int:
    end = jpeg_end(data, scan_start)
    if end is None or end <= scan_start:
        raise StripUnsupported("JPEG has no end of image marker (truncated?)")
    return end


def _png(data: bytes) -> bytes:
    out, pos = [data[:8]], 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        chunk = data[pos : pos + 12 + length]
        pos += 12 + length
        if kind == b"eXIf":
            cleaned = clean_exif(body)
            if cleaned is not None:
                cleaned = cleaned[len(_EXIF_HEADER):]  # PNG's eXIf holds bare TIFF data
                out.append(struct.pack(">I", len(cleaned)) + b"eXIf" + cleaned
                           + struct.pack(">I", zlib.crc32(b"eXIf" + cleaned)))
        elif kind in (b"tEXt", b"zTXt", b"iTXt") and body.startswith(_PNG_XMP_KEYS):
            continue
        else:
            out.append(chunk)
        if kind == b"IEND":
            return b"".join(out)
    raise StripUnsupported("PNG has no IEND chunk (truncated?)")


def _webp(data: bytes) -> bytes:
    chunks, pos = [], 12
    (riff_size,) = struct.unpack("<I", data[4:8])
    end = min(len(data), 8 + riff_size)
    while pos + 8 <= end:
        kind, (length,) = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 8 + length + (length & 1)
        if kind == b"EXIF":
            cleaned = clean_exif(body)
            if cleaned is not None:
                chunks.append((kind, cleaned[len(_EXIF_HEADER):]))
        elif kind != b"XMP ":
            chunks.append((kind, body))
    if chunks and chunks[0][0] == b"VP8X":  # flags byte: bit 3 EXIF, bit 2 XMP, as now present
        has_exif = any(kind == b"EXIF" for kind, _ in chunks)
        flags = (chunks[0][1][0] & ~0x0C) | (0x08 if has_exif else 0)
        chunks[0] = (b"VP8X", bytes([flags]) + chunks[0][1][1:])
    body = b"".join(kind + struct.pack("<I", len(chunk)) + chunk + b"\x00" * (len(chunk) & 1) for kind, chunk in chunks)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def strip_private(data: bytes) -> bytes:
    """The original file without GPS, serial numbers, owner name, maker note, XMP and trailing data."""
    container = container_of(data)
    try:
        if container == "JPEG":
            return _jpeg(data)
        if container == "PNG":
            return _png(data)
        if container == "WEBP":
            return _webp(data)
    except struct.error as error:
        raise StripUnsupported(f"{container} structure is broken: {error}") from error
    raise StripUnsupported(f"cannot rewrite {container or 'unknown'} metadata in place")
