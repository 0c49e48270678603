"""Image command handlers: a stored upload or a grabbed camera frame becomes ImageUploaded (no I/O here: the bytes
are stored before), a failed grab CameraSnapshotFailed."""

from __future__ import annotations

from datetime import datetime

from schemas.catalog import REGISTRY
from schemas.envelope import Envelope, utc_now
from schemas.images.events import ImageUploaded, SubjectType, image_id_of
from schemas.images.health import CameraSnapshotFailed

SOURCE = "api.images"
SNAPSHOT_SOURCE = "producers.images.snapshots"


def uploaded(sha256: str, size_bytes: int, image_format: str, content_type: str, original_name: str, *,
             subject_type: SubjectType = "none", subject_id: str | None = None, caption: str | None = None,
             actor: str | None, correlation_id: str | None, at: datetime | None = None,
             via: str = "upload") -> Envelope:
    """Keyed by the image (one id per content). The client's file name is for display only: never a path, no NUL,
    at most 255 characters (its end); a caption loses its NULs too."""
    image_id = image_id_of(sha256)
    data = ImageUploaded.model_validate({
        "image_id": image_id, "sha256": sha256, "size_bytes": size_bytes, "format": image_format,
        "content_type": content_type.replace("\x00", "")[:200],
        "original_name": original_name.replace("\x00", "")[-255:],
        "subject_type": subject_type, "subject_id": subject_id if subject_type != "none" else None,
        "caption": caption.replace("\x00", "") if caption else None, "via": via, "at": at or utc_now()})
    return REGISTRY.event(data, source=SOURCE if via == "upload" else SNAPSHOT_SOURCE, subject=str(image_id),
                          actor=actor, correlation_id=correlation_id)


def snapshot_failed(camera_id: str, at: datetime, error: str, *, actor: str | None = None,
                    correlation_id: str | None = None) -> Envelope:
    data = CameraSnapshotFailed(camera_id=camera_id, at=at, error=error.replace("\x00", "")[:500])
    return REGISTRY.event(data, source=SNAPSHOT_SOURCE, subject=camera_id, actor=actor, correlation_id=correlation_id)
