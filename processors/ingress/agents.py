"""Agent: each ingress reading is judged against its limit line; breaches become IngressLimitExceeded."""

from __future__ import annotations

from typing import Any

import faust
import structlog

from infra.settings import Settings
from processors.alerts.routing import AlertRouter
from processors.analytics.points import reading_points
from processors.ingress.machine import decide, parse_limits
from processors.streams import dead_letter, refused, written_ms

log = structlog.get_logger(__name__)
SOURCE = "processors.ingress"


def register(app: faust.App, settings: Settings, *, readings: Any, evaluations: Any, points: Any, deadletter: Any,
             router: AlertRouter) -> None:
    """One agent on `ingress.readings` (a second agent on the same topic shares each record's acks with it, and
    Faust could commit a reading only one of them had handled): it judges each reading and hands the levels to
    analytics as points, one event per node's run of readings in the batch (reading_points)."""
    lines = parse_limits(settings.ingress_limits)

    @app.agent(readings, name="ingress-limits")
    async def judge(stream: Any) -> None:
        async for batch in stream.take_events(2000, within=0.02):
            await router.ready(written_ms(*batch))
            judged = []
            for event in batch:
                if (bad := refused(event.value)) is not None:
                    await dead_letter(deadletter, event, SOURCE, *bad)
                    continue
                judged.append(event.value)
                await router.route(event.value)
                for derived in decide(lines, event.value, SOURCE):
                    await evaluations.send(key=derived.subject.encode(), value=derived)
                    await router.route(derived)
            for point in reading_points(judged):
                await points.send(key=point.subject.encode(), value=point)
