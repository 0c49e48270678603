"""Thumbnails are upright WebP; strip_private removes GPS and serials (checked by exiftool) and keeps every pixel."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from infra.bench.camera_files import CameraExif, camera_jpeg, encode, exif_block, scene
from processors.images.analysis import DEFAULT_LIMITS, Analysed, Rejected, analyse, examine
from processors.images.privacy import StripUnsupported, strip_private
from processors.images.sniff import jpeg_end, jpeg_layout

PRIVATE = ("GPS", "SerialNumber", "OwnerName", "MakerNote", "XMP")
XMP = (b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF "
       b"xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'><rdf:Description xmlns:exif="
       b"'http://ns.adobe.com/exif/1.0/' exif:GPSLatitude='48,51.398N' exif:GPSLongitude='2,21.128E'/>"
       b"</rdf:RDF></x:xmpmeta>")


def thumbnails_of(data: bytes) -> dict[int, bytes] | Rejected:
    examined = examine(data, DEFAULT_LIMITS)
    return examined if isinstance(examined, Rejected) else examined.thumbnails


def exiftool(path: Path) -> dict[str, object]:
    output = subprocess.run(["exiftool", "-j", "-a", "-G1", "-n", str(path)], capture_output=True, timeout=30)
    return dict(json.loads(output.stdout)[0])


def private_tags(tags: dict[str, object]) -> list[str]:
    return [name for name in tags if any(word in name for word in PRIVATE)]


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


def test_thumbnails_are_webp_of_the_right_size_and_upright() -> None:
    upright = scene(400, 300, seed=2)
    for orientation, stored in ((1, upright), (6, upright.transpose(Image.Transpose.ROTATE_90)),
                                (3, upright.transpose(Image.Transpose.ROTATE_180)),
                                (8, upright.transpose(Image.Transpose.ROTATE_270))):
        thumbs = thumbnails_of(camera_jpeg(picture=stored, spec=CameraExif(orientation=orientation)))
        assert not isinstance(thumbs, Rejected)
        for side, webp in thumbs.items():
            image = Image.open(io.BytesIO(webp))
            assert image.format == "WEBP" and image.size == ((side, side * 3 // 4) if side < 400 else (400, 300))
        small = np.asarray(Image.open(io.BytesIO(thumbs[128])).convert("L"), dtype=float)
        reference = np.asarray(upright.resize(small.shape[::-1]).convert("L"), dtype=float)
        assert np.abs(small - reference).mean() < 12, orientation  # the same picture, the same way up


def test_thumbnails_of_a_12mp_photo_are_fast_and_hostile_input_is_a_value() -> None:
    photo = camera_jpeg(4000, 3000, seed=7)
    started = time.process_time()
    thumbs = thumbnails_of(photo)
    assert not isinstance(thumbs, Rejected) and sorted(thumbs) == [128, 512]
    assert time.process_time() - started < 1.0  # 75-85 ms CPU here: draft decode at 1/4, resize, WebP
    assert isinstance(thumbnails_of(photo[: len(photo) // 2]), Rejected)
    assert isinstance(thumbnails_of(b"not an image"), Rejected)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_strip_private_removes_gps_and_serials_and_keeps_the_pixels(tmp_path: Path, fmt: str) -> None:
    spec = CameraExif(orientation=6)
    if fmt == "JPEG":
        original = camera_jpeg(640, 480, spec, extra={0xA430: "Jane Doe", 0x927C: b"Nikon\x00\x02SERIAL123"})
        original = original[:2] + b"\xff\xe1" + struct.pack(">H", len(XMP) + 2) + XMP + original[2:]
        original += b"\xff\xd8\xff\xe1" + b"trailing second picture with its own EXIF" + b"\xff\xd9"
    else:
        original = encode(scene(320, 240), fmt, exif_block(spec, {0xA430: "Jane Doe"}), **(
            {"lossless": True} if fmt == "WEBP" else {}))
    before, after = tmp_path / f"before.{fmt.lower()}", tmp_path / f"after.{fmt.lower()}"
    before.write_bytes(original)
    after.write_bytes(strip_private(original))
    tags_before, tags_after = exiftool(before), exiftool(after)
    assert len(private_tags(tags_before)) >= 5
    assert private_tags(tags_after) == []
    assert "Warning" not in tags_after and "ExifTool:Warning" not in tags_after, tags_after
    for kept in ("IFD0:Make", "IFD0:Model", "IFD0:Orientation", "ExifIFD:DateTimeOriginal", "ExifIFD:LensModel"):
        assert tags_after[kept] == tags_before[kept]
    assert np.array_equal(pixels(original), pixels(after.read_bytes()))
    analysed = analyse(after.read_bytes())
    assert isinstance(analysed, Analysed) and analysed.gps_latitude is None and not analysed.has_body_serial
    assert (analysed.width, analysed.height) == (analyse(original).width, analyse(original).height)  # type: ignore


def test_jpeg_image_data_is_copied_byte_for_byte() -> None:
    original = camera_jpeg(640, 480)
    stripped = strip_private(original)
    first_old, first_new = jpeg_layout(original).first_scan, jpeg_layout(stripped).first_scan
    assert first_old is not None and first_new is not None
    assert original[first_old : jpeg_end(original, first_old)] == stripped[first_new:]
    assert len(stripped) < len(original)


def test_formats_whose_metadata_cannot_be_rewritten_in_place_are_refused() -> None:
    for data in (encode(scene(32, 32), "TIFF"), encode(scene(32, 32).convert("P"), "GIF"), b"junk"):
        with pytest.raises(StripUnsupported):
            strip_private(data)
