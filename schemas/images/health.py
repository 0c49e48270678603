"""Camera image health: what consecutive snapshots of a camera show (black, frozen, blurred or covered, moved)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from schemas.envelope import Payload
from schemas.images.events import PHASH

HealthKind = Literal["black_or_blank", "frozen", "out_of_focus_or_covered", "moved"]
HEALTH_KINDS: tuple[HealthKind, ...] = ("black_or_blank", "frozen", "out_of_focus_or_covered", "moved")
CameraId = Annotated[str, Field(min_length=1, max_length=100)]


class CameraSnapshotAnalysed(Payload):
    """A frame grabbed from a live stream, reduced to the measures health needs (the image itself is ImageAnalysed)."""

    camera_id: CameraId
    image_id: uuid.UUID
    taken_at: datetime
    phash: PHASH
    luma_grid: str = Field(max_length=2_000, description="24x18 block means, base64")
    brightness: float = Field(ge=0, le=1)
    contrast: float = Field(ge=0, le=1)
    sharpness: float = Field(ge=0, description="median over 4x4 tiles of the Laplacian variance")


class CameraSnapshotFailed(Payload):
    """No frame this time (stream down, refused, timed out): says nothing of the picture, but breaks a frozen run."""

    camera_id: CameraId
    at: datetime
    error: str = Field(max_length=500)


class CameraImageDegraded(Payload):
    """Consecutive snapshots show a problem of one kind."""

    camera_id: CameraId
    kind: HealthKind
    at: datetime
    detail: str = Field(max_length=300, description="the measure against its threshold, for a person")


class CameraImageRecovered(Payload):
    """Consecutive snapshots no longer show the problem."""

    camera_id: CameraId
    kind: HealthKind
    at: datetime
