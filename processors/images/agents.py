"""Agents: uploads -> a bounded process pool -> ImageAnalysed / ImageRejected (and, for camera snapshots, what
health needs); camera snapshots -> camera image health (a Faust table keyed by camera id) -> Degraded / Recovered.

At least once, exactly-once effect: derived ids come from the cause and the derived type, and the same bytes give the
same outcome, so a redelivered upload derives the same events again (the projection keeps the first). The health
state remembers what its last inputs led to, so a snapshot redelivered after a crash (state saved, events lost)
sends the same events again; an older snapshot changes nothing (health.stale).
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
import orjson
import structlog

from infra.settings import Settings
from infra.topics import CAMERA_HEALTH_TABLE
from processors.images.derive import outcome_events, subject_of
from processors.images.health import step
from processors.images.health_model import CameraImageHealth, HealthRules
from processors.images.pool import AnalysisPool
from processors.images.work import Job
from processors.streams import dead_letter, refused
from schemas.catalog import REGISTRY
from schemas.envelope import Envelope, Payload, derived_event_id, utc_now
from schemas.images.events import ImageUploaded
from schemas.images.health import CameraSnapshotAnalysed, CameraSnapshotFailed
from schemas.topics import IMAGE_ANALYSES, IMAGE_SNAPSHOTS

log = structlog.get_logger(__name__)
SOURCE = "processors.images"
RECENT_KEPT = 8


def envelope_of(event: Payload, cause: Envelope) -> Envelope:
    key = f"{type(event).__name__}:{getattr(event, 'kind', '')}"  # one snapshot may degrade two kinds at once
    return REGISTRY.event(event, event_id=derived_event_id(cause.event_id, key),
                          occurred_at=getattr(event, "at", None) or utc_now(), source=SOURCE,
                          subject=subject_of(event), actor=cause.actor, causation_id=cause.event_id,
                          correlation_id=cause.correlation_id)


def health_rules(settings: Settings) -> HealthRules:
    return HealthRules.model_validate(orjson.loads(settings.camera_health_rules or "{}"))


def register(app: faust.App, settings: Settings, *, uploads: Any, analyses: Any, snapshots: Any, health: Any,
             deadletter: Any) -> None:
    pool = AnalysisPool(settings.image_workers, settings.image_timeout_s, settings.image_worker_memory_mb << 20)
    rules = health_rules(settings)
    table = app.Table(CAMERA_HEALTH_TABLE, default=None, partitions=settings.topic_partitions)
    targets = {IMAGE_ANALYSES: analyses, IMAGE_SNAPSHOTS: snapshots}

    async def examine(event: Any) -> list[Envelope]:
        cause: Envelope = event.value
        upload = cause.data
        assert isinstance(upload, ImageUploaded)
        outcome = await pool.run(Job(settings.upload_dir, upload.sha256))
        return [envelope_of(derived, cause) for derived in outcome_events(upload, outcome, utc_now())]

    @app.agent(uploads, name="image-uploads")
    async def analyse_uploads(stream: Any) -> None:
        # a batch is examined in parallel (as many at once as the pool has workers) and its events sent in order
        async for batch in stream.take_events(settings.image_workers * 4, within=0.05):
            wanted = []
            for event in batch:
                if (bad := refused(event.value, ImageUploaded)) is not None:
                    await dead_letter(deadletter, event, SOURCE, *bad)
                else:
                    wanted.append(event)
            for derived in await asyncio.gather(*(examine(event) for event in wanted)):
                for envelope in derived:
                    await targets[REGISTRY.topic_of(envelope)].send(key=envelope.subject.encode(), value=envelope)

    @app.agent(snapshots, name="camera-image-health")
    async def judge_snapshots(stream: Any) -> None:
        async for event in stream.events():
            value = event.value
            if (bad := refused(value, CameraSnapshotAnalysed, CameraSnapshotFailed)) is not None:
                await dead_letter(deadletter, event, SOURCE, *bad)
                continue
            snapshot = value.data
            raw = table.get(snapshot.camera_id)
            state = CameraImageHealth.model_validate(raw["state"]) if raw else CameraImageHealth(
                camera_id=snapshot.camera_id)
            recent: list[list[Any]] = raw["recent"] if raw else []
            again = next((sent for seen, sent in recent if seen == str(value.event_id)), None)
            if again is not None:  # redelivered: what it led to may have been lost in a crash
                for encoded in again:
                    await health.send(key=snapshot.camera_id.encode(), value=REGISTRY.decode(encoded.encode()))
                continue
            after, derived = step(state, snapshot, rules)
            envelopes = [envelope_of(e, value) for e in derived]
            for envelope in envelopes:
                await health.send(key=snapshot.camera_id.encode(), value=envelope)
                log.info("camera.image_health", camera_id=snapshot.camera_id, event=envelope.type,
                         kind=getattr(envelope.data, "kind", None))
            if after != state:
                table[snapshot.camera_id] = {"state": after.model_dump(mode="json"), "recent": [
                    *recent, [str(value.event_id), [REGISTRY.encode(e).decode() for e in envelopes]]][-RECENT_KEPT:]}

    app.task(pool.warm)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def stop_pool(app: Any, **kwargs: Any) -> None:
        pool.close()
