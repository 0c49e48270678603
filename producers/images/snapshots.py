"""A camera snapshot as an image: grab one frame (ffmpeg, producers/images/snapshot.py), store it content-addressed
and announce it as ImageUploaded (subject: the camera, via: camera_snapshot), or announce the failed grab. Used by
POST /api/cameras/{id}/snapshot and by the pollers' per-camera snapshot interval; the caller emits the event."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from infra.filestore import put_bytes
from producers.devices.outbound import Outbound
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


async def pinned(url: str, outbound: Outbound) -> str:
    """The URL with its host replaced by the address `outbound` permits (OutboundRefused, a ValueError, when none):
    ffmpeg then connects where the check looked, never to a name that could resolve elsewhere the second time."""
    parts = urlsplit(url)
    family, address = await outbound.resolve(parts.hostname or "", parts.port or 554)
    host = f"[{address}]" if family == socket.AF_INET6 else address
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (f"{userinfo}@" if userinfo else "") + host + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


async def take_snapshot(source: SnapshotSource, *, root: Path, timeout_s: float, outbound: Outbound,
                        actor: str | None = None, correlation_id: str | None = None) -> Envelope:
    """ImageUploaded of the frame, or CameraSnapshotFailed; never raises for a camera that does not deliver. The
    camera's address must be one `outbound` permits (producers/devices/outbound.py), as for RTSP probes."""
    at = utc_now()
    try:
        frame = await grab_frame(await pinned(source.url, outbound), username=source.username,
                                 password=source.password, timeout_s=timeout_s, shown=source.public_url)
    except (SnapshotFailed, ValueError, OSError) as error:  # ValueError: a URL ffmpeg must not be given, or refused
        return snapshot_failed(source.camera_id, at, str(error), actor=actor, correlation_id=correlation_id)
    sha = await asyncio.to_thread(put_bytes, root, frame.jpeg)
    return uploaded(sha, len(frame.jpeg), "JPEG", "image/jpeg", f"camera-{source.camera_id}.jpg",
                    subject_type="camera", subject_id=source.camera_id, via="camera_snapshot", at=at, actor=actor,
                    correlation_id=correlation_id)
