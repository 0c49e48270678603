"""Agent: each ingress reading is judged against its limit line; breaches become IngressLimitExceeded."""

from __future__ import annotations

from typing import Any

import faust
import structlog

from infra.deadletter import deadletter_headers
from infra.settings import Settings
from processors.codec import DecodeFailure
from processors.ingress.machine import evaluate, parse_limits

log = structlog.get_logger(__name__)
SOURCE = "processors.ingress"


def register(app: faust.App, settings: Settings, *, readings: Any, evaluations: Any, deadletter: Any) -> None:
    lines = parse_limits(settings.ingress_limits)

    @app.agent(readings, name="ingress-limits")
    async def judge(stream: Any) -> None:
        async for batch in stream.take_events(2000, within=0.02):
            for event in batch:
                value = event.value
                if isinstance(value, DecodeFailure):
                    msg = event.message
                    await deadletter.send(
                        key=event.key, value=value.raw,
                        headers=deadletter_headers(f"processor:{SOURCE}", value.error, msg.topic,
                                                   msg.partition, msg.offset),
                    )
                    continue
                derived = evaluate(value, lines, SOURCE)
                if derived is not None:
                    await evaluations.send(key=derived.subject.encode(), value=derived)
