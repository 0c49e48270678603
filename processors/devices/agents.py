"""Agent: poll facts (devices.samples) -> rates, interface and device status changes (devices.rates).

A Faust table keyed by device id holds each device's DeviceMemory; samples are keyed by device id, so a device's
facts reach one worker in order. Derived ids come from the cause and a per-event key: a redelivered fact derives the
same events, which the projection then ignores.
"""

from __future__ import annotations

from typing import Any

import faust
import structlog

from infra.settings import Settings
from infra.topics import DEVICE_TABLE
from processors.alerts.routing import AlertRouter
from processors.devices.machine import DeviceMemory, decide, evolve
from processors.streams import dead_letter, refused, written_ms
from schemas.catalog import REGISTRY
from schemas.devices.events import (
    DeviceReachable,
    DeviceStatusChanged,
    DeviceUnreachable,
    InterfaceCountersSampled,
    InterfaceOperStatusChanged,
    InterfaceRateComputed,
)
from schemas.envelope import Envelope, Payload, derived_event_id

log = structlog.get_logger(__name__)
SOURCE = "processors.devices"


def derived_key(event: Payload) -> str:
    if isinstance(event, InterfaceRateComputed | InterfaceOperStatusChanged):
        return f"{type(event).__name__}:{event.if_index}"
    return type(event).__name__


def envelope_of(event: Payload, cause: Envelope) -> Envelope:
    at = getattr(event, "at", cause.occurred_at)
    return REGISTRY.event(event, event_id=derived_event_id(cause.event_id, derived_key(event)), occurred_at=at,
                          source=SOURCE, subject=cause.subject, causation_id=cause.event_id,
                          correlation_id=cause.correlation_id)


def register(app: faust.App, settings: Settings, *, samples: Any, derived: Any, deadletter: Any,
             router: AlertRouter) -> None:
    table = app.Table(DEVICE_TABLE, default=None, partitions=settings.topic_partitions)

    @app.agent(samples, name="device-samples")
    async def derive(stream: Any) -> None:
        async for event in stream.events():  # one by one: a table may change only for the event being processed
            value = event.value
            if (bad := refused(value)) is not None:
                await dead_letter(deadletter, event, SOURCE, *bad)
                continue
            await router.ready(written_ms(event))
            await router.route(value)
            fact = value.data
            if not isinstance(fact, InterfaceCountersSampled | DeviceReachable | DeviceUnreachable):
                continue  # identity and discovery facts: nothing to derive
            raw = table.get(fact.device_id)
            memory = DeviceMemory.model_validate(raw) if raw else DeviceMemory()
            events = decide(memory, fact)
            after = evolve(memory, fact)
            for derived_event in events:  # queued in order; Faust flushes them before committing the cause
                envelope = envelope_of(derived_event, value)
                await derived.send(key=value.subject.encode(), value=envelope)
                await router.route(envelope)
                after = evolve(after, derived_event)
            if after != memory:
                table[fact.device_id] = after.model_dump(mode="json")
            if any(isinstance(e, DeviceStatusChanged) for e in events):
                log.info("device.status_changed", device_id=fact.device_id, status=getattr(after.status, "value", None))
