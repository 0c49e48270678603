"""Images (the Janus pipeline): an upload is stored content-addressed and announced; the processor analyses it.

The same bytes are one image whatever the number of uploads: `image_id` is computed from the sha256 (`image_id_of`),
so a second upload of a photo is a second ImageUploaded of the same image, never a second copy.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from schemas.envelope import Payload
from schemas.ingress.events import SHA256

SubjectType = Literal["ingress", "cylinder", "camera", "device", "none"]
RejectCode = Literal["too_large", "not_an_image", "polyglot", "bomb", "unsupported", "corrupt", "missing", "timeout"]
IMAGE_NAMESPACE = uuid.UUID("6f0c8f5e-2a47-5d0b-9a56-2f1e0c3b7d11")
PHASH = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
Text = Annotated[str, Field(max_length=200)]


def image_id_of(sha256: str) -> uuid.UUID:
    """One id per content: the same bytes uploaded twice are one image."""
    return uuid.uuid5(IMAGE_NAMESPACE, sha256)


class ImageUploaded(Payload):
    """Bytes were stored under their sha256 and belong to a subject (or to none)."""

    image_id: uuid.UUID
    sha256: SHA256
    size_bytes: int = Field(ge=1)
    format: Literal["JPEG", "PNG", "GIF", "TIFF", "WEBP", "HEIF"] = Field(description="by magic number")
    content_type: str = Field(max_length=200, description="as the client declared it")
    original_name: str = Field(default="", max_length=255, description="as the client sent it; never a path")
    subject_type: SubjectType = "none"
    subject_id: str | None = Field(default=None, min_length=1, max_length=100)
    caption: str | None = Field(default=None, max_length=1000)
    via: Literal["upload", "camera_snapshot"] = "upload"
    at: datetime


class ImageAnalysed(Payload):
    """What the image is and shows. Width and height are as displayed (EXIF orientation applied); an EXIF value that
    cannot be trusted is left empty and named in `notes`."""

    image_id: uuid.UUID
    sha256: SHA256
    format: str = Field(max_length=10)
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    orientation: int | None = Field(default=None, ge=1, le=8, description="as stored")
    taken_at: datetime | None = Field(default=None, description="DateTimeOriginal: with its offset when the camera "
                                                                "wrote OffsetTimeOriginal, else camera-local (naive)")
    make: Text | None = None
    model: Text | None = None
    lens_model: Text | None = None
    exposure_time: str | None = Field(default=None, max_length=40, description='exact fraction, "1/250"')
    exposure_time_s: float | None = Field(default=None, ge=0)
    f_number: float | None = Field(default=None, ge=0)
    iso: int | None = Field(default=None, ge=1)
    focal_length_mm: float | None = Field(default=None, ge=0)
    gps_latitude: float | None = Field(default=None, ge=-90, le=90)
    gps_longitude: float | None = Field(default=None, ge=-180, le=180)
    gps_altitude_m: float | None = None
    has_body_serial: bool = False
    phash: PHASH
    brightness: float = Field(ge=0, le=1, description="mean luma")
    contrast: float = Field(ge=0, le=1, description="standard deviation of luma")
    sharpness: float = Field(ge=0, description="variance of the Laplacian; low: blurred")
    trailing_bytes: int | None = Field(default=None, ge=0, description="bytes after the container's end")
    notes: tuple[Annotated[str, Field(max_length=300)], ...] = Field(default=(), max_length=50)
    thumbnails: dict[Literal["128", "512"], SHA256] = Field(default_factory=dict, description="WebP, upright, by side")
    public_sha256: SHA256 | None = Field(default=None, description="the original without GPS, serials and other "
                                                                   "personal metadata; None: not servable that way")
    at: datetime


class ImageRejected(Payload):
    """The stored bytes are not an image the platform will show: why, for a person."""

    image_id: uuid.UUID
    sha256: SHA256
    code: RejectCode
    reason: str = Field(max_length=500)
    at: datetime
