"""What the image routes give: an image with its metadata, status, uploads and near-duplicates; pages; the pipeline's
status. Location (GPS) is shown to admins and operators only, as the original's GPS tags are (privacy)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import BaseModel, Field

from api.commands import Accepted
from api.identity.principal import Principal

SEES_LOCATION = frozenset({"admin", "operator"})
SUBJECT_TABLES = {  # subject type -> the read model that must know the id
    "ingress": "SELECT submitted_by FROM ingress_readings WHERE id::text = %s AND NOT retracted",
    "cylinder": "SELECT NULL FROM cylinders WHERE qr_code = %s",
    "camera": "SELECT NULL FROM cameras WHERE camera_id = %s AND NOT removed",
    "device": "SELECT NULL FROM devices WHERE device_id = %s AND NOT removed",
}


def sees_location(principal: Principal) -> bool:
    return principal.kind == "user" and principal.role in SEES_LOCATION


class ImageAccepted(Accepted):
    image_id: uuid.UUID


class UploadOut(BaseModel):
    upload_id: uuid.UUID
    subject_type: str
    subject_id: str | None
    caption: str | None
    original_name: str
    content_type: str
    via: str
    uploaded_at: datetime
    uploaded_by: str | None


class DuplicateOut(BaseModel):
    image_id: uuid.UUID
    distance: int  # bits of 64 between the perceptual hashes


class ImageOut(BaseModel):
    image_id: uuid.UUID
    sha256: str
    size_bytes: int | None
    format: str | None
    status: str  # pending, analysed, rejected
    uploads: int
    first_uploaded_at: datetime | None
    last_uploaded_at: datetime | None
    analysed_at: datetime | None
    reject_code: str | None
    reject_reason: str | None
    width: int | None  # as displayed
    height: int | None
    orientation: int | None  # as stored
    # ISO 8601: with its offset when the camera wrote one (RFC 3339), else the camera's local wall time without an
    # offset, which is not an RFC 3339 date-time: declared as text so the document says what is sent
    taken_at: str | None = Field(description="when the picture was taken: ISO 8601 with the camera's offset when it "
                                             "recorded one, else camera-local time without an offset")
    make: str | None
    model: str | None
    lens_model: str | None
    exposure_time: str | None
    exposure_time_s: float | None
    f_number: float | None
    iso: int | None
    focal_length_mm: float | None
    gps_latitude: float | None  # admins and operators only
    gps_longitude: float | None
    gps_altitude_m: float | None
    has_body_serial: bool | None
    phash: str | None
    brightness: float | None
    contrast: float | None
    sharpness: float | None
    trailing_bytes: int | None
    notes: list[str]
    thumbnails: dict[str, str]  # size -> URL
    original: str | None  # URL; without GPS and serials below operator
    duplicates: list[DuplicateOut] | None = None  # one image only
    upload_list: list[UploadOut] | None = None  # one image only


class ImagePage(BaseModel):
    items: list[ImageOut]
    next_cursor: str | None


class CameraHealthOut(BaseModel):
    camera_id: str
    kind: str
    since: datetime
    detail: str | None


class ImagesStatus(BaseModel):
    counts: dict[str, int]  # by status
    pending_oldest_age_s: float | None
    analysed_last_minute: int
    analysed_last_hour: int
    analysed_per_s_last_minute: float
    projection_lag: int  # records of the image topics the read model has not applied
    degraded_cameras: list[CameraHealthOut]


def image_out(row: dict[str, Any], principal: Principal) -> ImageOut:
    base = f"/api/images/{row['image_id']}"
    fields = {k: v for k, v in row.items() if k in ImageOut.model_fields}
    local = row["taken_local"]  # camera-local wall time, with the camera's offset when it wrote one
    fields["taken_at"] = local.isoformat() if local is not None else None
    if row["taken_at"] is not None and row["taken_offset_min"] is not None:
        offset = timezone(timedelta(minutes=row["taken_offset_min"]))
        fields["taken_at"] = row["taken_at"].astimezone(offset).isoformat()
    fields["notes"] = row["notes"] or []
    fields["thumbnails"] = {str(s): f"{base}/thumbnail?size={s}" for s in (128, 512) if row[f"thumb_{s}"]}
    fields["original"] = f"{base}/original" if row["status"] == "analysed" else None
    if not sees_location(principal):
        fields.update(gps_latitude=None, gps_longitude=None, gps_altitude_m=None)
    return ImageOut(**fields)
