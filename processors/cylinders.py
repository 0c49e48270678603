"""Agent and timer: each scan is decided against the cylinder's state (a Faust table keyed by QR code).

Derived events are sent and acknowledged BEFORE the table is updated: a crash in between makes the scan come
again with the old state, which decides the same events with the same ids (harmless duplicates downstream).
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
import structlog

from infra.settings import Settings
from processors.codec import DecodeFailure
from processors.cylinders_machine import Cylinder, Rules, decide, evolve, timers
from processors.inputs import CYLINDER_TABLE
from projections.deadletter import deadletter_headers
from schemas.catalog import REGISTRY
from schemas.cylinders import CylinderEvent, ScanRecorded
from schemas.envelope import Envelope, derived_event_id, stable_event_id, utc_now

log = structlog.get_logger(__name__)
SOURCE = "processors.cylinders"


def envelope_of(event: CylinderEvent, cause: Envelope | None) -> Envelope:
    key = f"{type(event).__name__}:{event.version}"
    event_id = derived_event_id(cause.event_id, key) if cause else stable_event_id(event.at, f"{event.qr_code}:{key}")
    return REGISTRY.event(event, event_id=event_id, occurred_at=event.at, source=SOURCE, subject=event.qr_code,
                          actor=cause.actor if cause else None, causation_id=cause.event_id if cause else None,
                          correlation_id=cause.correlation_id if cause else None)


def register(app: faust.App, settings: Settings, *, scans: Any, events: Any, deadletter: Any) -> None:
    rules = Rules(settings.retest_years, settings.retest_warn_days, settings.overdue_days)
    # keys and values go through Faust's json codec (the changelog stays readable with `opsledger events tail`)
    table = app.Table(CYLINDER_TABLE, default=None, partitions=settings.topic_partitions)

    def load(code: str) -> Cylinder:
        raw = table.get(code)
        return Cylinder.model_validate(raw) if raw else Cylinder(qr_code=code)

    async def emit(state: Cylinder, derived: list[CylinderEvent], cause: Envelope | None) -> None:
        sent = [await events.send(key=e.qr_code.encode(), value=envelope_of(e, cause)) for e in derived]
        await asyncio.gather(*sent)  # acknowledged before the state moves on
        for event in derived:
            state = evolve(state, event)
        table[state.qr_code] = state.model_dump(mode="json")

    @app.agent(scans, name="cylinder-scans")
    async def decide_scans(stream: Any) -> None:
        async for event in stream.events():
            value = event.value
            if isinstance(value, DecodeFailure) or not isinstance(value.data, ScanRecorded):
                msg = event.message
                error = value.error if isinstance(value, DecodeFailure) else f"not a scan: {value.type}"
                raw = value.raw if isinstance(value, DecodeFailure) else REGISTRY.encode(value)
                await deadletter.send(key=event.key, value=raw, headers=deadletter_headers(
                    f"processor:{SOURCE}", error, msg.topic, msg.partition, msg.offset))
                continue
            state = load(value.data.qr_code)
            derived = decide(state, value.data, rules)
            if derived:
                await emit(state, derived, value)

    @app.timer(interval=settings.cylinder_timer_interval_s)
    async def daily_checks() -> None:
        now = utc_now()
        for raw in list(table.values()):
            if raw:
                state = Cylinder.model_validate(raw)
                derived = timers(state, now, rules)
                if derived:
                    await emit(state, derived, None)
        log.info("cylinders.daily_checks", cylinders=len(table))
