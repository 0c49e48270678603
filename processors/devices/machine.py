"""What the processor derives from one device's poll facts (pure: no I/O, no clock).

decide(memory, fact) -> events and evolve(memory, event) -> memory, where the memory of a device is its last two
samples (folded in from the facts themselves) and its last known status. Rates come from the latest sample and the
one before (processors/devices/rates.py); ifOperStatus changes and up/down transitions are emitted on change only.
A sample redelivered after a crash (memory saved, derived events lost) is recomputed against the sample before it,
so the same events go out again with the same ids; an older one arriving late changes nothing.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from processors.devices.rates import rates_between
from schemas.devices.events import (
    DeviceReachable,
    DeviceStatus,
    DeviceStatusChanged,
    DeviceUnreachable,
    InterfaceCountersSampled,
    InterfaceOperStatusChanged,
)
from schemas.envelope import Payload


class DeviceMemory(BaseModel):
    model_config = ConfigDict(frozen=True)

    latest: InterfaceCountersSampled | None = None
    before: InterfaceCountersSampled | None = None
    status: DeviceStatus | None = None


def oper_changes(previous: InterfaceCountersSampled | None,
                 current: InterfaceCountersSampled) -> list[InterfaceOperStatusChanged]:
    before = {i.if_index: i.oper_status for i in previous.interfaces} if previous else {}
    return [InterfaceOperStatusChanged(device_id=current.device_id, if_index=i.if_index, name=i.name,
                                       previous=before.get(i.if_index), current=i.oper_status, at=current.sampled_at)
            for i in current.interfaces if before.get(i.if_index) != i.oper_status]


Fact = InterfaceCountersSampled | DeviceReachable | DeviceUnreachable


def decide(memory: DeviceMemory, fact: Fact) -> list[Payload]:
    """What one poll fact means: rates and interface changes from a sample (against the one before it; a redelivered
    sample is recomputed against the same one, a late one means nothing), a status change from reachability."""
    if isinstance(fact, InterfaceCountersSampled):
        latest = memory.latest
        if latest is not None and fact.sampled_at < latest.sampled_at:
            return []  # late and superseded
        previous = memory.before if latest is not None and fact.sampled_at == latest.sampled_at else latest
        derived: list[Payload] = list(rates_between(previous, fact)) if previous is not None else []
        return derived + oper_changes(previous, fact)
    current = DeviceStatus.up if isinstance(fact, DeviceReachable) else DeviceStatus.down
    if memory.status is current:
        return []
    reason = fact.reason if isinstance(fact, DeviceUnreachable) else None
    return [DeviceStatusChanged(device_id=fact.device_id, previous=memory.status, current=current, at=fact.at,
                                reason=reason)]


def evolve(memory: DeviceMemory, event: Payload) -> DeviceMemory:
    """Fold a sample (the newest two are kept) or a status change into the memory; anything else leaves it as is."""
    if isinstance(event, InterfaceCountersSampled):
        if memory.latest is not None and event.sampled_at <= memory.latest.sampled_at:
            return memory  # a redelivery or a late sample
        return DeviceMemory(latest=event, before=memory.latest, status=memory.status)
    if isinstance(event, DeviceStatusChanged) and event.current is not memory.status:
        return memory.model_copy(update={"status": event.current})
    return memory
