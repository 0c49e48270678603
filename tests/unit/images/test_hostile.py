"""Hostile and broken files: `analyse` returns a value (Rejected, or Analysed with the bad field None), fast."""

from __future__ import annotations

import io
import struct
import time
import zipfile
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, TiffImagePlugin

from infra.bench.camera_files import CameraExif, camera_jpeg, encode, scene
from processors.images.analysis import Analysed, Limits, Rejected, analyse

R = TiffImagePlugin.IFDRational
SECONDS = 2.0  # generous for a loaded 2-core machine; the typical case is a few milliseconds


def timed(data: bytes, limits: Limits | None = None) -> Analysed | Rejected:
    started = time.process_time()
    result = analyse(data, limits) if limits else analyse(data)
    assert time.process_time() - started < SECONDS
    assert isinstance(result, Analysed | Rejected)
    return result


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
            + png_chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + png_chunk(b"IEND", b""))


def jpeg_claiming(width: int, height: int) -> bytes:
    data = bytearray(camera_jpeg(64, 48))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def with_segment(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    return jpeg[:2] + bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


@pytest.mark.parametrize("data", [b"", b"\xff\xd8\xff", b"GIF89a", b"RIFF\x10\x00\x00\x00WEBPVP8 ",
                                  b"\x00\x00\x00\x18ftypheic" + b"\x00" * 16, bytes(range(256)) * 40,
                                  b"%PDF-1.7\n", b"<svg xmlns='http://www.w3.org/2000/svg'/>"],
                         ids=["empty", "soi", "gif-header", "webp-header", "heic-ftyp", "noise", "pdf", "svg"])
def test_garbage_is_rejected(data: bytes) -> None:
    assert isinstance(timed(data), Rejected)


@pytest.mark.parametrize(("data", "code"), [
    (png_claiming(9_000, 9_000), "bomb"),  # 81 MP: our limit, below Pillow's own
    (png_claiming(10_000, 10_000), "bomb"),  # 100 MP: Pillow's DecompressionBombWarning, made an error
    (png_claiming(20_000, 20_000), "bomb"),  # 400 MP: Pillow's DecompressionBombError
    (png_claiming(50_000, 1), "bomb"),  # a side longer than any camera's
    (jpeg_claiming(65_000, 65_000), "bomb"),
    (b"GIF89a" + struct.pack("<HH", 65_535, 65_535) + encode(scene(8, 8).convert("P"), "GIF")[10:], "bomb"),
], ids=["png-81mp", "png-100mp", "png-400mp", "png-50000x1", "jpeg-4gp", "gif-4gp"])
def test_pixel_bombs_are_refused_before_decoding(data: bytes, code: str) -> None:
    result = timed(data)
    assert isinstance(result, Rejected) and result.code == code


def test_the_pixel_limit_is_ours_to_set() -> None:
    picture = encode(scene(200, 100), "PNG")
    assert isinstance(timed(picture, Limits(max_pixels=10_000)), Rejected)
    assert isinstance(timed(picture, Limits(max_pixels=20_000)), Analysed)


def test_truncated_files_are_rejected_as_corrupt() -> None:
    for data in (camera_jpeg(320, 240), encode(scene(320, 240), "PNG"), encode(scene(320, 240), "WEBP")):
        result = timed(data[: len(data) * 2 // 3])
        assert isinstance(result, Rejected) and result.code == "corrupt", result


def test_a_jpeg_that_is_also_a_zip_is_refused() -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as folder:
        folder.writestr("payload.txt", "hello")
    result = timed(camera_jpeg() + archive.getvalue())
    assert isinstance(result, Rejected) and result.code == "polyglot"


@pytest.mark.parametrize("data", [
    with_segment(camera_jpeg(), 0xFE, b"<html><script>alert(1)</script></html>"),
    camera_jpeg() + b"<HTML><body onload=x()>",
    b"\x89PNG\r\n\x1a\n" + encode(scene(32, 32), "PNG")[8:-12] + png_chunk(b"tEXt", b"c\x00<script>x</script>")
    + png_chunk(b"IEND", b""),
], ids=["jpeg-comment", "jpeg-trailer", "png-text"])
def test_markup_hidden_in_an_image_is_refused(data: bytes) -> None:
    result = timed(data)
    assert isinstance(result, Rejected) and result.code == "polyglot", result


def test_absurd_exif_values_become_none_and_the_rest_survives() -> None:
    spec = CameraExif(make="Canon\x00garbage after the NUL", model="\x00\x00", taken="0000:00:00 00:00:00",
                      offset="+99:00", exposure=(1, 0), f_number=(0, 0), focal_length=(2**32 - 1, 1), iso=0,
                      latitude=((95, 1), (0, 1), (0, 1)), longitude=((200, 1), (0, 0), (0, 1)), altitude=(1, 0),
                      orientation=9, lens_model="\x01\x02EF 50mm\x7f")
    result = timed(camera_jpeg(spec=spec))
    assert isinstance(result, Analysed)
    assert (result.make, result.model, result.lens_model) == ("Canon", None, "EF 50mm")
    assert result.taken_at is None and result.orientation is None and (result.width, result.height) == (640, 480)
    assert (result.exposure_time, result.f_number, result.focal_length_mm, result.iso) == (None, None, None, None)
    assert (result.gps_latitude, result.gps_longitude, result.gps_altitude_m) == (None, None, None)
    assert {"EXIF taken_at implausible, dropped", "EXIF gps_latitude implausible, dropped"} <= set(result.notes)


@pytest.mark.parametrize(("taken", "offset", "expected"), [
    ("9999:12:31 23:59:59", "+00:00", None), ("2024:02:30 10:00:00", None, None), ("2024:13:01 10:00:00", None, None),
    ("2024:06:01 25:00:00", None, None), ("garbage", None, None), ("2024:06:01 10:00:00", "+99:00", "naive"),
    ("2024:06:01 10:00:00", "Z", "naive"), ("2024:06:01 10:00:00", "-03:30", "aware"),
])
def test_dates(taken: str, offset: str | None, expected: str | None) -> None:
    result = timed(camera_jpeg(64, 48, CameraExif(taken=taken, offset=offset)))
    assert isinstance(result, Analysed)
    if expected is None:
        assert result.taken_at is None
    else:
        assert result.taken_at is not None and (result.taken_at.tzinfo is not None) == (expected == "aware")


def test_a_huge_exif_block_is_ignored_with_a_note() -> None:
    huge = b"MM\x00*\x00\x00\x00\x08" + b"\x00\x01" + b"\x01\x0f\x00\x02" + struct.pack(">II", 1 << 20, 26)
    huge += b"A" * (1 << 20)
    png = encode(scene(64, 48), "PNG")
    data = png[:-12] + png_chunk(b"eXIf", huge) + png[-12:]
    result = timed(data)
    assert isinstance(result, Analysed) and result.make is None
    assert any("EXIF ignored" in note for note in result.notes)


def test_exif_with_offsets_pointing_nowhere_or_in_a_loop() -> None:
    ifd0 = struct.pack(">H", 2) + struct.pack(">HHII", 0x8825, 4, 1, 0x7FFFFF00) + struct.pack(">HHII", 0x8769, 4, 1, 8)
    raw = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08" + ifd0 + b"\x00\x00\x00\x08"  # next IFD: itself
    result = timed(with_segment(camera_jpeg(64, 48, picture=scene(64, 48))[:2] + encode(scene(64, 48), "JPEG")[2:],
                                0xE1, raw))
    assert isinstance(result, Analysed) and result.gps_latitude is None


def test_progressive_jpeg_with_thousands_of_scans_is_refused() -> None:
    progressive = encode(scene(64, 48), "JPEG", progressive=True)
    last_scan = progressive.rfind(b"\xff\xda")
    scan = progressive[last_scan:-2]
    bomb = progressive[:-2] + scan * 2_000 + b"\xff\xd9"
    result = timed(bomb)
    assert isinstance(result, Rejected) and result.code == "bomb" and "scans" in result.reason
    assert isinstance(timed(progressive), Analysed)


def test_sixteen_bit_png_is_not_read_as_white() -> None:
    grey16 = Image.new("I;16", (64, 48), 20_000)
    result = timed(encode(grey16, "PNG"))
    assert isinstance(result, Analysed) and result.brightness == pytest.approx(20_000 / 65_535, abs=0.01)


def test_cmyk_palette_and_alpha_images_are_measured() -> None:
    picture = scene(64, 48)
    for data in (encode(picture.convert("CMYK"), "JPEG"), encode(picture.convert("P"), "GIF"),
                 encode(picture.convert("RGBA"), "PNG"), encode(picture.convert("LA"), "WEBP")):
        assert isinstance(timed(data), Analysed)


SMALL_JPEG = camera_jpeg(96, 64)
SMALL_PNG = encode(scene(64, 48), "PNG")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from([SMALL_JPEG, SMALL_PNG]), cut=st.integers(0, 20_000),
       flips=st.lists(st.tuples(st.integers(0, 20_000), st.integers(0, 255)), max_size=12))
def test_mutated_files_never_raise(base: bytes, cut: int, flips: list[tuple[int, int]]) -> None:
    data = bytearray(base[: max(1, len(base) - cut % len(base))])
    for position, value in flips:
        data[position % len(data)] = value
    timed(bytes(data))
