"""Real camera-like files made with Pillow: a photo-ish picture plus the EXIF a phone or a DSLR writes (the image
benchmark and the image tests use them; Pillow writes EXIF, GPS and orientation tags as cameras do)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, TiffImagePlugin

R = TiffImagePlugin.IFDRational


@dataclass(frozen=True)
class CameraExif:
    make: str = "Opsledger"
    model: str = "FieldCam 12"
    lens_model: str = "FieldCam 4.2mm f/1.8"
    taken: str = "2024:06:01 14:30:05"
    offset: str | None = "+02:00"
    subsec: str | None = None
    exposure: tuple[int, int] = (1, 250)
    f_number: tuple[int, int] = (18, 10)
    iso: int = 200
    focal_length: tuple[int, int] = (42, 10)
    latitude: tuple[tuple[int, int], ...] | None = ((48, 1), (51, 1), (2388, 100))
    latitude_ref: str = "N"
    longitude: tuple[tuple[int, int], ...] | None = ((2, 1), (21, 1), (768, 100))
    longitude_ref: str = "E"
    altitude: tuple[int, int] | None = (3512, 100)
    altitude_ref: int = 0
    body_serial: str | None = "SN-0042-XYZ"
    lens_serial: str | None = "LS-77"
    orientation: int = 1


def exif_block(spec: CameraExif, extra: dict[int, Any] | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = spec.make, spec.model, spec.orientation
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = spec.taken
    if spec.offset is not None:
        sub[0x9011] = spec.offset
    if spec.subsec is not None:
        sub[0x9291] = spec.subsec
    sub[0x829A], sub[0x829D] = R(*spec.exposure), R(*spec.f_number)
    sub[0x8827], sub[0x920A], sub[0xA434] = spec.iso, R(*spec.focal_length), spec.lens_model
    if spec.body_serial is not None:
        sub[0xA431] = spec.body_serial
    if spec.lens_serial is not None:
        sub[0xA435] = spec.lens_serial
    if spec.latitude is not None and spec.longitude is not None:
        gps = exif.get_ifd(0x8825)
        gps[0] = b"\x02\x03\x00\x00"
        gps[1], gps[2] = spec.latitude_ref, tuple(R(*part) for part in spec.latitude)
        gps[3], gps[4] = spec.longitude_ref, tuple(R(*part) for part in spec.longitude)
        if spec.altitude is not None:
            gps[5], gps[6] = spec.altitude_ref, R(*spec.altitude)
    for tag, value in (extra or {}).items():
        sub[tag] = value
    return exif


def scene(width: int, height: int, seed: int = 1) -> Image.Image:
    """Not noise (which no camera shoots and no JPEG compresses): shapes, gradients, texture, a little grain."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / width * 200, y / height * 180, (x + y) / (width + height) * 160], axis=-1)
    image = Image.fromarray(base.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    unit = max(4, min(width, height) // 12)
    for _ in range(40):
        left, top = int(rng.integers(0, width)), int(rng.integers(0, height))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = (left, top, left + int(rng.integers(unit // 2, unit * 3)), top + int(rng.integers(unit // 2, unit * 3)))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(shape, fill=colour)
    grain = rng.normal(0, 6, (height, width, 1)).astype(np.float32)
    pixels = np.clip(np.asarray(image, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def camera_jpeg(width: int = 640, height: int = 480, spec: CameraExif | None = None, seed: int = 1,
                quality: int = 90, extra: dict[int, Any] | None = None, picture: Image.Image | None = None) -> bytes:
    picture = picture if picture is not None else scene(width, height, seed)
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=quality, exif=exif_block(spec or CameraExif(), extra).tobytes())
    return out.getvalue()


def encode(picture: Image.Image, fmt: str, exif: Image.Exif | None = None, **options: Any) -> bytes:
    out = io.BytesIO()
    if exif is not None:
        options["exif"] = exif.tobytes()
    picture.save(out, fmt, **options)
    return out.getvalue()


def blurred(picture: Image.Image, radius: float = 6.0) -> Image.Image:
    return picture.filter(ImageFilter.GaussianBlur(radius))
