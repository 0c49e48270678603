"""One SNMP poll of one device: the system group, then the interface columns (producers/devices/snmp/walk.py), then
LLDP-MIB neighbours. The whole poll is bounded by a deadline: what arrived by then is kept, flagged partial. LLDP
neighbours are walked last, best effort: an agent without LLDP-MIB, an error or the deadline means no neighbours this
poll, never an unreachable device.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

from producers.devices.outbound import OutboundRefused
from producers.devices.snmp.credentials import Credentials
from producers.devices.snmp.session import Oid, Target, open_session
from producers.devices.snmp.v2c import SnmpRequestError
from producers.devices.snmp.walk import (
    EXCEPTION_VALUES,
    HC_COLUMNS,
    SYS_DESCR,
    SYS_NAME,
    SYS_OBJECT_ID,
    SYS_UPTIME,
    Walk,
    counters,
    hc_usable,
    oid_text,
    text_of,
    walk_interfaces,
    walk_neighbours,
)
from schemas.devices.events import (
    DeviceIdentified,
    DeviceReachable,
    DeviceUnreachable,
    InterfaceCountersSampled,
    TopologyLinkObserved,
)
from schemas.envelope import Payload, utc_now


@dataclass(frozen=True)
class PollResult:
    """Everything one poll learned; `events()` turns it into the payloads to publish."""

    device_id: str
    started_at: datetime
    elapsed_s: float
    reachable: DeviceReachable | None = None
    unreachable: DeviceUnreachable | None = None
    identity: DeviceIdentified | None = None
    sample: InterfaceCountersSampled | None = None
    neighbours: tuple[TopologyLinkObserved, ...] = ()
    requests: int = 0

    @property
    def ok(self) -> bool:
        return self.unreachable is None

    @property
    def partial(self) -> bool:
        return self.sample is not None and self.sample.partial

    def events(self) -> list[Payload]:
        found: list[Payload | None] = [self.unreachable, self.reachable, self.identity, self.sample]
        return [event for event in found if event is not None] + list(self.neighbours)


async def poll_device(engine: SnmpEngine, target: Target, creds: Credentials, *, deadline_s: float,
                      max_repetitions: int = 25, prefer_hc: bool = True,
                      clock: Callable[[], datetime] = utc_now, fast_v2c: bool = True,
                      lldp: bool = True) -> PollResult:
    """Poll one device. Never raises for SNMP trouble: an unreachable device is a result saying why.

    `prefer_hc=False` skips straight to the 32-bit counters (for a device an earlier poll found without HC).
    `fast_v2c=False` sends SNMPv2c through pysnmp too (to compare the two paths). `lldp=False` skips the LLDP-MIB
    neighbour walk (done only after a complete interface walk, within what is left of the deadline).
    """
    started_at, started = clock(), time.monotonic()
    deadline = started + deadline_s

    def elapsed() -> float:
        return time.monotonic() - started

    def unreachable(reason: str, requests: int) -> PollResult:
        event = DeviceUnreachable(device_id=target.device_id, at=started_at, reason=reason[:500] or "unknown")
        return PollResult(target.device_id, started_at, elapsed(), unreachable=event, requests=requests)

    try:
        async with asyncio.timeout_at(asyncio.get_running_loop().time() + deadline_s):
            session = await open_session(engine, target, creds, fast_v2c)
            system = dict(await session.get([SYS_UPTIME, SYS_NAME, SYS_DESCR, SYS_OBJECT_ID]))
    except TimeoutError:
        return unreachable(f"no answer within the {deadline_s:g} s deadline", 1)
    except (SnmpRequestError, OutboundRefused) as e:
        return unreachable(str(e), 1)
    except Exception as e:  # pysnmp raises PySnmpError and plain errors for bad addresses and malformed answers
        return unreachable(f"{type(e).__name__}: {e}", 1)
    # an agent that answers is reachable; one without sysUpTime (DOMAIN.md: real agents are partial) is timed by
    # our clock instead, and its sample says so
    uptime = system.get(SYS_UPTIME)
    uptime_ticks = None if uptime is None or isinstance(uptime, EXCEPTION_VALUES) else int(uptime)
    sampled_at, response_ms = clock(), elapsed() * 1000

    walk = Walk()
    hc = prefer_hc
    remaining = deadline - time.monotonic()
    try:
        async with asyncio.timeout(max(remaining, 0)):
            hc = await walk_interfaces(session, prefer_hc, max_repetitions, walk)
    except TimeoutError:
        pass
    except SnmpRequestError:
        pass  # what was walked so far stands, flagged partial
    if not walk.complete and hc and not hc_usable(walk.columns):
        hc = False  # cut before the HC check could be made: do not claim 64-bit for counters we do not have
        for name in HC_COLUMNS:
            walk.columns.pop(name, None)
        walk.row_uptimes.clear()

    def text(oid: Oid) -> str:
        value = system.get(oid)
        return "" if value is None or isinstance(value, EXCEPTION_VALUES) else text_of(value)

    object_id = system.get(SYS_OBJECT_ID)
    identity = DeviceIdentified(
        device_id=target.device_id, at=sampled_at, sys_name=text(SYS_NAME), sys_descr=text(SYS_DESCR),
        sys_object_id="" if object_id is None or isinstance(object_id, EXCEPTION_VALUES) else oid_text(object_id))
    sample = InterfaceCountersSampled(
        device_id=target.device_id, sampled_at=sampled_at, sys_uptime_ticks=uptime_ticks,
        poller_clock=uptime_ticks is None, hc=hc,
        interfaces=counters(walk.columns, walk.row_uptimes), partial=not walk.complete,
        poll_ms=round(elapsed() * 1000, 1))
    neighbours = await walk_neighbours(session, target.device_id, sampled_at, max_repetitions, deadline) \
        if lldp and walk.complete else ()
    reachable = DeviceReachable(device_id=target.device_id, at=sampled_at, response_ms=response_ms)
    return PollResult(target.device_id, started_at, elapsed(), reachable=reachable, identity=identity,
                      sample=sample, neighbours=neighbours, requests=session.requests)
