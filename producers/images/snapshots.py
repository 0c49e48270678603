"""A camera snapshot as an image: grab one frame (ffmpeg, producers/images/snapshot.py), store it content-addressed
and announce it as ImageUploaded (subject: the camera, via: camera_snapshot), or announce the failed grab. Used by
POST /api/cameras/{id}/snapshot and by the pollers' per-camera snapshot interval; the caller emits the event."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from infra.filestore import put_bytes
from producers.images.commands import snapshot_failed, uploaded
from producers.images.snapshot import SnapshotFailed, grab_frame
from schemas.envelope import Envelope, utc_now


@dataclass(frozen=True)
class SnapshotSource:
    camera_id: str
    url: str  # what is grabbed: may hold secret query values (kept encrypted); logs name public_url
    public_url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)


async def take_snapshot(source: SnapshotSource, *, root: Path, timeout_s: float, actor: str | None = None,
                        correlation_id: str | None = None) -> Envelope:
    """ImageUploaded of the frame, or CameraSnapshotFailed; never raises for a camera that does not deliver."""
    at = utc_now()
    try:
        frame = await grab_frame(source.url, username=source.username, password=source.password,
                                 timeout_s=timeout_s, shown=source.public_url)
    except (SnapshotFailed, ValueError) as error:  # ValueError: a URL ffmpeg must not be given
        return snapshot_failed(source.camera_id, at, str(error), actor=actor, correlation_id=correlation_id)
    sha = await asyncio.to_thread(put_bytes, root, frame.jpeg)
    return uploaded(sha, len(frame.jpeg), "JPEG", "image/jpeg", f"camera-{source.camera_id}.jpg",
                    subject_type="camera", subject_id=source.camera_id, via="camera_snapshot", at=at, actor=actor,
                    correlation_id=correlation_id)
