"""What an upload's outcome means as events (pure): ImageAnalysed or ImageRejected, and for a camera snapshot what
camera image health needs (CameraSnapshotAnalysed, or CameraSnapshotFailed when the frame was refused)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from processors.images.analysis import Analysed, Rejected
from processors.images.work import Outcome
from schemas.envelope import Payload
from schemas.images.events import ImageAnalysed, ImageRejected, ImageUploaded
from schemas.images.health import CameraSnapshotAnalysed, CameraSnapshotFailed


def outcome_events(upload: ImageUploaded, outcome: Outcome, at: datetime) -> list[Payload]:
    snapshot_of = upload.subject_id if upload.via == "camera_snapshot" and upload.subject_type == "camera" else None
    if outcome.analysed is None:
        rejected = outcome.rejected or Rejected("corrupt", "no outcome")
        events: list[Payload] = [ImageRejected(image_id=upload.image_id, sha256=upload.sha256, code=rejected.code,
                                               reason=rejected.reason[:500], at=at)]
        if snapshot_of is not None:
            events.append(CameraSnapshotFailed(camera_id=snapshot_of, at=upload.at,
                                               error=f"frame refused: {rejected.reason}"[:500]))
        return events
    image = outcome.analysed
    events = [analysed_event(upload, image, outcome, at)]
    if snapshot_of is not None:
        events.append(CameraSnapshotAnalysed(camera_id=snapshot_of, image_id=upload.image_id, taken_at=upload.at,
                                             phash=image.phash, luma_grid=image.luma_grid,
                                             brightness=image.brightness, contrast=image.contrast,
                                             sharpness=image.laplacian_tile_median))
    return events


def analysed_event(upload: ImageUploaded, image: Analysed, outcome: Outcome, at: datetime) -> ImageAnalysed:
    return ImageAnalysed(
        image_id=upload.image_id, sha256=upload.sha256, format=image.format, width=image.width, height=image.height,
        orientation=image.orientation, taken_at=image.taken_at, make=image.make, model=image.model,
        lens_model=image.lens_model, exposure_time=image.exposure_time, exposure_time_s=image.exposure_time_s,
        f_number=image.f_number, iso=image.iso, focal_length_mm=image.focal_length_mm,
        gps_latitude=image.gps_latitude, gps_longitude=image.gps_longitude, gps_altitude_m=image.gps_altitude_m,
        has_body_serial=image.has_body_serial, phash=image.phash, brightness=image.brightness,
        contrast=min(1.0, image.contrast), sharpness=image.laplacian_variance, trailing_bytes=image.trailing_bytes,
        notes=tuple(note[:300] for note in image.notes[:50]),
        thumbnails=thumbnail_keys(outcome),
        public_sha256=outcome.public_sha256, at=at)


def thumbnail_keys(outcome: Outcome) -> dict[Literal["128", "512"], str]:
    """JSON object keys are text (the wire encoder refuses numbers)."""
    found: dict[Literal["128", "512"], str] = {}
    if 128 in outcome.thumbnails:
        found["128"] = outcome.thumbnails[128]
    if 512 in outcome.thumbnails:
        found["512"] = outcome.thumbnails[512]
    return found


def subject_of(event: Payload) -> str:
    """The Kafka key of a derived event: the image, or the camera for health's inputs and outputs."""
    if isinstance(event, ImageAnalysed | ImageRejected):
        return str(event.image_id)
    camera_id = getattr(event, "camera_id", None)
    if not isinstance(camera_id, str):
        raise TypeError(f"no subject for {type(event).__name__}")
    return camera_id
