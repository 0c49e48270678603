"""An upload's outcome as events: analysed or rejected, and for a camera snapshot what health needs; every derived
event has the subject it is keyed by."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from infra.bench.camera_files import camera_jpeg
from processors.images.analysis import Analysed, Rejected, analyse
from processors.images.derive import outcome_events, subject_of
from processors.images.work import Outcome
from schemas.images.events import ImageAnalysed, ImageRejected, ImageUploaded, image_id_of
from schemas.images.health import (
    CameraImageDegraded,
    CameraImageRecovered,
    CameraSnapshotAnalysed,
    CameraSnapshotFailed,
)

AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
SHA = "cd" * 32


def upload(**fields: object) -> ImageUploaded:
    return ImageUploaded.model_validate({"image_id": image_id_of(SHA), "sha256": SHA, "size_bytes": 10,
                                         "format": "JPEG", "content_type": "image/jpeg", "at": AT, **fields})


def test_an_upload_is_analysed_and_a_camera_snapshot_also_feeds_health() -> None:
    image = analyse(camera_jpeg(64, 48))
    assert isinstance(image, Analysed)
    outcome = Outcome(analysed=image, thumbnails={128: SHA, 512: SHA}, public_sha256=SHA)
    plain, = outcome_events(upload(), outcome, AT)
    assert isinstance(plain, ImageAnalysed) and plain.thumbnails == {"128": SHA, "512": SHA}
    camera = str(uuid.uuid4())
    analysed, health = outcome_events(upload(subject_type="camera", subject_id=camera, via="camera_snapshot"),
                                      outcome, AT)
    assert isinstance(health, CameraSnapshotAnalysed) and health.sharpness == image.laplacian_tile_median
    assert (subject_of(analysed), subject_of(health)) == (str(image_id_of(SHA)), camera)
    photo_of_camera, = outcome_events(upload(subject_type="camera", subject_id=camera), outcome, AT)
    assert isinstance(photo_of_camera, ImageAnalysed)  # a technician's photo of a camera is not a snapshot


def test_a_refused_snapshot_is_a_failed_grab_for_health() -> None:
    camera = str(uuid.uuid4())
    refused = Outcome(rejected=Rejected("corrupt", "cannot decode"))
    rejected, failed = outcome_events(upload(subject_type="camera", subject_id=camera, via="camera_snapshot"),
                                      refused, AT)
    assert isinstance(rejected, ImageRejected) and rejected.code == "corrupt"
    assert isinstance(failed, CameraSnapshotFailed) and failed.camera_id == camera and "cannot decode" in failed.error


def test_health_events_are_keyed_by_their_camera() -> None:
    assert subject_of(CameraImageDegraded(camera_id="c1", kind="frozen", at=AT, detail="")) == "c1"
    assert subject_of(CameraImageRecovered(camera_id="c2", kind="moved", at=AT)) == "c2"


def test_a_redelivered_upload_derives_the_same_event_ids() -> None:
    from processors.images.agents import envelope_of
    from schemas.catalog import REGISTRY

    cause = REGISTRY.event(upload(subject_type="camera", subject_id="c1", via="camera_snapshot"), source="t",
                           subject=str(image_id_of(SHA)))
    first = [envelope_of(e, cause) for e in outcome_events(cause.data, Outcome(rejected=Rejected("bomb", "x")), AT)]
    again = [envelope_of(e, cause) for e in outcome_events(cause.data, Outcome(rejected=Rejected("bomb", "x")), AT)]
    assert [e.event_id for e in first] == [e.event_id for e in again] and len({e.event_id for e in first}) == 2
    assert [e.subject for e in first] == [str(image_id_of(SHA)), "c1"]
    two_kinds = [envelope_of(CameraImageDegraded(camera_id="c1", kind=kind, at=AT, detail=""), cause)
                 for kind in ("black_or_blank", "frozen")]
    assert two_kinds[0].event_id != two_kinds[1].event_id  # one snapshot may degrade two kinds at once
