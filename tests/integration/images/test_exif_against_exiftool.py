"""`analyse` against exiftool's reading of the same files (`exiftool -j -n`), field by field."""

from __future__ import annotations

import io
import json
import subprocess
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import pytest
from PIL import Image

from infra.bench.camera_files import CameraExif, camera_jpeg, encode, exif_block, scene
from processors.images.analysis import Analysed, analyse

pytestmark = pytest.mark.integration  # exiftool: tests/deps.sh

CASES: dict[str, tuple[str, CameraExif]] = {
    **{f"orientation{o}.jpg": ("JPEG", CameraExif(orientation=o)) for o in range(1, 9)},
    "south_west_below_sea.jpg": ("JPEG", CameraExif(latitude_ref="S", longitude_ref="W", altitude_ref=1,
                                                    offset="-07:00", subsec="045")),
    "no_offset.jpg": ("JPEG", CameraExif(offset=None, exposure=(30, 1), f_number=(11, 1), iso=6400)),
    "no_gps_no_serial.jpg": ("JPEG", CameraExif(latitude=None, longitude=None, body_serial=None)),
    "long_exposure.jpg": ("JPEG", CameraExif(exposure=(13, 10), focal_length=(500, 1), orientation=8)),
    "phone.png": ("PNG", CameraExif(orientation=6)),
    "phone.webp": ("WEBP", CameraExif(orientation=3)),
    "scan.tiff": ("TIFF", CameraExif(orientation=1)),
    "phone.heic": ("HEIF", CameraExif(orientation=1)),
}


def _write(folder: Path, name: str, fmt: str, spec: CameraExif) -> Path:
    path = folder / name
    if fmt == "JPEG":
        path.write_bytes(camera_jpeg(320, 240, spec, seed=len(name)))
    elif fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
        path.write_bytes(encode(scene(320, 240), "HEIF", exif_block(spec), quality=80))
    elif fmt == "TIFF":
        path.write_bytes(encode(scene(320, 240), "TIFF", exif_block(spec)))
    else:
        path.write_bytes(encode(scene(320, 240), fmt, exif_block(spec)))
    return path


@pytest.fixture(scope="module")
def readings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Analysed, dict[str, object]]]:
    folder = tmp_path_factory.mktemp("camera")
    paths = [_write(folder, name, fmt, spec) for name, (fmt, spec) in CASES.items()]
    output = subprocess.run(["exiftool", "-j", "-n", *map(str, paths)], capture_output=True, check=True, timeout=60)
    tool = {Path(entry["SourceFile"]).name: entry for entry in json.loads(output.stdout)}
    results = {}
    for path in paths:
        analysed = analyse(path.read_bytes())
        assert isinstance(analysed, Analysed), (path.name, analysed)
        results[path.name] = (analysed, tool[path.name])
    return results


def _taken_at(tool: dict[str, object]) -> datetime | None:
    text = str(tool.get("SubSecDateTimeOriginal") or tool.get("DateTimeOriginal") or "")
    if not text:
        return None
    date, _, clock = text.partition(" ")
    return datetime.fromisoformat(date.replace(":", "-") + "T" + clock)


@pytest.mark.parametrize("name", list(CASES))
def test_every_fact_matches_exiftool(readings: dict[str, tuple[Analysed, dict[str, object]]], name: str) -> None:
    ours, tool = readings[name]
    fmt, spec = CASES[name]
    assert ours.format == fmt
    orientation = int(tool.get("Orientation", 1))  # type: ignore[call-overload]
    assert ours.orientation == orientation == spec.orientation
    stored = (tool["ImageWidth"], tool["ImageHeight"])
    assert (ours.width, ours.height) == (stored[::-1] if orientation >= 5 else stored)
    assert (ours.make, ours.model, ours.lens_model) == (tool["Make"], tool["Model"], tool["LensModel"])
    assert ours.taken_at == _taken_at(tool)
    assert (ours.taken_at is not None and ours.taken_at.tzinfo is not None) == (spec.offset is not None)
    assert ours.exposure_time_s == pytest.approx(tool["ExposureTime"])
    assert ours.exposure_time == str(Fraction(*spec.exposure))
    assert ours.f_number == pytest.approx(tool["FNumber"])
    assert ours.iso == tool["ISO"]
    assert ours.focal_length_mm == pytest.approx(tool["FocalLength"])
    for field, key in (("gps_latitude", "GPSLatitude"), ("gps_longitude", "GPSLongitude"),
                       ("gps_altitude_m", "GPSAltitude")):
        expected = tool.get(key)
        assert getattr(ours, field) == (pytest.approx(expected, abs=1e-9) if expected is not None else None)
    assert ours.has_body_serial == ("SerialNumber" in tool)


def test_stored_and_displayed_dimensions_differ_only_for_orientations_5_to_8(
        readings: dict[str, tuple[Analysed, dict[str, object]]]) -> None:
    for orientation in range(1, 9):
        ours, _ = readings[f"orientation{orientation}.jpg"]
        assert (ours.width, ours.height) == ((240, 320) if orientation >= 5 else (320, 240))


def test_heif_is_decoded_by_pillow_heif() -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    picture = scene(256, 192)
    heic = encode(picture, "HEIF", quality=90)
    ours = analyse(heic)
    assert isinstance(ours, Analysed) and ours.format == "HEIF" and (ours.width, ours.height) == (256, 192)
    as_png = analyse(encode(Image.open(io.BytesIO(heic)), "PNG"))
    assert isinstance(as_png, Analysed) and as_png.phash == ours.phash
