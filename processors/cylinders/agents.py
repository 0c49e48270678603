"""Agent and timer: each scan is decided against the cylinder's state (a Faust table keyed by QR code).

At least once, exactly-once effect: derived events have ids computed from the scan, and the state remembers
what its last few scans led to, so a scan redelivered after a crash (state saved, events lost) sends the same
events again instead of nothing. Downstream, the projection ignores events it already has.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import faust
import structlog

from infra.settings import Settings
from infra.topics import CYLINDER_TABLE
from processors.alerts.routing import AlertRouter
from processors.cylinders.machine import Cylinder, Rules, decide, evolve, recent_outcome, remember, timers
from processors.streams import dead_letter, refused, written_ms
from schemas.catalog import REGISTRY
from schemas.cylinders.events import CylinderEvent, ScanRecorded
from schemas.envelope import Envelope, derived_event_id, stable_event_id, utc_now

log = structlog.get_logger(__name__)
SOURCE = "processors.cylinders"


def envelope_of(event: CylinderEvent, cause: Envelope | None) -> Envelope:
    key = f"{type(event).__name__}:{event.version}"
    event_id = derived_event_id(cause.event_id, key) if cause else stable_event_id(event.at, f"{event.qr_code}:{key}")
    return REGISTRY.event(event, event_id=event_id, occurred_at=event.at, source=SOURCE, subject=event.qr_code,
                          actor=cause.actor if cause else None, causation_id=cause.event_id if cause else None,
                          correlation_id=cause.correlation_id if cause else None)


def register(app: faust.App, settings: Settings, *, scans: Any, events: Any, checks: Any, deadletter: Any,
             router: AlertRouter) -> None:
    rules = Rules(settings.retest_years, settings.retest_warn_days, settings.overdue_days)
    # keys and values go through Faust's json codec (the changelog stays readable with `opsledger events tail`)
    table = app.Table(CYLINDER_TABLE, default=None, partitions=settings.topic_partitions)

    def load(code: str) -> Cylinder:
        raw = table.get(code)
        return Cylinder.model_validate(raw) if raw else Cylinder(qr_code=code)

    async def emit(state: Cylinder, derived: list[CylinderEvent], cause: Envelope | None) -> Cylinder:
        for event in derived:  # queued in order; Faust flushes them before it commits the scan's offset
            envelope = envelope_of(event, cause)
            await events.send(key=event.qr_code.encode(), value=envelope)
            await router.route(envelope)
            state = evolve(state, event)
        return state

    @app.agent(scans, name="cylinder-scans")
    async def decide_scans(stream: Any) -> None:
        async for event in stream.events():
            value = event.value
            if (bad := refused(value, ScanRecorded)) is not None:
                await dead_letter(deadletter, event, SOURCE, *bad)
                continue
            await router.ready(written_ms(event))
            await router.route(value)
            scan = value.data
            state = load(scan.qr_code)
            derived = decide(state, scan, rules)
            if derived:
                table[scan.qr_code] = remember(await emit(state, derived, value), scan, derived).model_dump(mode="json")
            else:  # a duplicate: if recent, its events may have been lost in a crash; sending again is harmless
                for stored in recent_outcome(state, scan):
                    again = REGISTRY.get(stored["type"]).model.model_validate(stored["data"])  # type: ignore[union-attr]
                    envelope = envelope_of(again, value)  # type: ignore[arg-type]
                    await events.send(key=scan.qr_code.encode(), value=envelope)
                    await router.route(envelope)

    @app.timer(interval=settings.cylinder_timer_interval_s)
    async def daily_checks() -> None:
        """Tick every cylinder this worker holds; the ticks agent decides (idempotent: the flags it sets make a
        second tick a no-op)."""
        at = utc_now().isoformat()
        codes = [code for code, raw in list(table.items()) if raw]
        for code in codes:
            await checks.send(key=code.encode(), value={"at": at})
        log.info("cylinders.daily_checks", cylinders=len(codes))

    @app.agent(checks, name="cylinder-checks")
    async def check_cylinders(stream: Any) -> None:
        async for event in stream.events():
            code = event.key.decode() if isinstance(event.key, bytes) else str(event.key)
            state = load(code)
            if state.status is None:
                continue
            derived = timers(state, datetime.fromisoformat(event.value["at"]), rules)
            if derived:
                await router.ready(written_ms(event))
                table[code] = (await emit(state, derived, None)).model_dump(mode="json")
