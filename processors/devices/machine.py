"""What the processor derives from one device's poll facts (pure: no I/O, no clock).

The memory of a device is its last two samples and its last known status. Rates come from the latest sample and the
one before (processors/rates.py); ifOperStatus changes and up/down transitions are emitted on change only. A sample
redelivered after a crash (memory saved, derived events lost) is recomputed against the sample before it, so the
same events go out again with the same ids; an older one arriving late changes nothing.
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


def on_sample(memory: DeviceMemory, sample: InterfaceCountersSampled) -> tuple[list[Payload], DeviceMemory]:
    latest = memory.latest
    if latest is not None and sample.sampled_at < latest.sampled_at:
        return [], memory  # late and superseded
    if latest is not None and sample.sampled_at == latest.sampled_at:
        previous, remembered = memory.before, memory  # a redelivery: derive the same events again
    else:
        previous, remembered = latest, DeviceMemory(latest=sample, before=latest, status=memory.status)
    derived: list[Payload] = list(rates_between(previous, sample)) if previous is not None else []
    derived += oper_changes(previous, sample)
    return derived, remembered


def on_reachability(memory: DeviceMemory,
                    event: DeviceReachable | DeviceUnreachable) -> tuple[list[Payload], DeviceMemory]:
    current = DeviceStatus.up if isinstance(event, DeviceReachable) else DeviceStatus.down
    if memory.status is current:
        return [], memory
    reason = event.reason if isinstance(event, DeviceUnreachable) else None
    changed = DeviceStatusChanged(device_id=event.device_id, previous=memory.status, current=current, at=event.at,
                                  reason=reason)
    return [changed], memory.model_copy(update={"status": current})
