"""One SNMP poll of one device: the system group, then GETBULK walks of only the interface columns we need.

SNMPv2c goes through our own BER codec and one shared UDP socket (producers/snmp/v2c.py): pysnmp spent most of a
poll's CPU decoding and wrapping answers. SNMPv3 goes through pysnmp 7's asyncio hlapi with numeric OIDs and
lookupMib=False. Both paths give the walk the same (oid, value) pairs. The walk asks for all
wanted columns in each GETBULK and keeps going per column until that column leaves its subtree, so a 48-port switch
takes a handful of requests. The whole poll is bounded by a deadline: what arrived by then is kept, flagged partial.
LLDP-MIB neighbours are walked last, best effort: an agent without LLDP-MIB, an error or the deadline means no
neighbours this poll, never an unreachable device.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pysnmp.hlapi.v3arch.asyncio import (
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    Udp6TransportTarget,
    UdpTransportTarget,
    bulk_cmd,
    get_cmd,
)
from pysnmp.proto.rfc1905 import EndOfMibView, NoSuchInstance, NoSuchObject

from producers.devices.snmp import ber
from producers.devices.snmp.credentials import Credentials, V2cCredentials
from producers.devices.snmp.v2c import SnmpRequestError, V2cSession, close_shared_client, shared_client
from schemas.devices.events import (
    ADMIN_STATUS_BY_NUMBER,
    OPER_STATUS_BY_NUMBER,
    AdminStatus,
    DeviceIdentified,
    DeviceReachable,
    DeviceUnreachable,
    InterfaceCounters,
    InterfaceCountersSampled,
    OperStatus,
    TopologyLinkObserved,
)
from schemas.envelope import Payload, utc_now

Oid = tuple[int, ...]

SYS_DESCR: Oid = (1, 3, 6, 1, 2, 1, 1, 1, 0)
SYS_OBJECT_ID: Oid = (1, 3, 6, 1, 2, 1, 1, 2, 0)
SYS_UPTIME: Oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_NAME: Oid = (1, 3, 6, 1, 2, 1, 1, 5, 0)
IF_ENTRY: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX_ENTRY: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)

COMMON_COLUMNS: dict[str, Oid] = {
    "name": (*IFX_ENTRY, 1),
    "alias": (*IFX_ENTRY, 18),
    "high_speed_mbps": (*IFX_ENTRY, 15),
    "admin_status": (*IF_ENTRY, 7),
    "oper_status": (*IF_ENTRY, 8),
    "in_discards": (*IF_ENTRY, 13),
    "in_errors": (*IF_ENTRY, 14),
    "out_discards": (*IF_ENTRY, 19),
    "out_errors": (*IF_ENTRY, 20),
}
HC_COLUMNS: dict[str, Oid] = {"in_octets": (*IFX_ENTRY, 6), "out_octets": (*IFX_ENTRY, 10)}
# the 32-bit octets, plus ifSpeed: an agent without ifHighSpeed still says how fast a 32-bit counter may wrap
LEGACY_COLUMNS: dict[str, Oid] = {
    "in_octets": (*IF_ENTRY, 10),
    "out_octets": (*IF_ENTRY, 16),
    "speed_bps": (*IF_ENTRY, 5),
}
LLDP_REM_ENTRY: Oid = (1, 0, 8802, 1, 1, 2, 1, 4, 1, 1)  # indexed by (timeMark, localPortNum, remIndex)
LLDP_LOC_PORT_ID: Oid = (1, 0, 8802, 1, 1, 2, 1, 3, 7, 1, 3)  # indexed by localPortNum
LLDP_COLUMNS: dict[str, Oid] = {
    "chassis_id": (*LLDP_REM_ENTRY, 5),
    "port_id": (*LLDP_REM_ENTRY, 7),
    "sys_name": (*LLDP_REM_ENTRY, 9),
    "local_port_id": LLDP_LOC_PORT_ID,
}
EXCEPTION_VALUES = (EndOfMibView, NoSuchObject, NoSuchInstance, ber.VarBindException)
TEXT_COLUMNS = {"name", "alias"}
MAX_RESPONSE_VARBINDS = 250  # keeps a GETBULK answer under typical agents' message size with 11 columns


@dataclass(frozen=True)
class Target:
    """Where a device answers SNMP, and how long one request may take before a (bounded) retry."""

    device_id: str
    host: str
    port: int = 161
    timeout_s: float = 2.0
    retries: int = 1


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


@dataclass
class _Walk:
    """Rows gathered so far; kept outside the timed coroutine so a deadline leaves them readable."""

    columns: dict[str, dict[Any, Any]] = field(default_factory=dict)  # by ifIndex, or by index tuple (tables=True)
    row_uptimes: dict[int, int] = field(default_factory=dict)  # sysUpTime of the response carrying a row's in_octets
    requests: int = 0
    complete: bool = False


def _text(value: Any) -> str:
    raw = value if isinstance(value, bytes) else bytes(value.asOctets()) if hasattr(value, "asOctets") else b""
    return raw.decode("utf-8", "replace").replace("\x00", "")[:255]


def _oid_text(value: Any) -> str:
    """Dotted text of an OBJECT IDENTIFIER value, whichever path decoded it."""
    return ".".join(map(str, value)) if isinstance(value, tuple) else str(value)


class _Session(Protocol):
    requests: int

    async def get(self, oids: list[Oid]) -> list[tuple[Oid, Any]]: ...

    async def bulk(self, non_repeaters: list[Oid], oids: list[Oid], max_repetitions: int) -> list[tuple[Oid, Any]]:
        ...


class _PysnmpSession:
    def __init__(self, engine: SnmpEngine, transport: UdpTransportTarget | Udp6TransportTarget,
                 creds: Credentials) -> None:
        self.engine, self.transport = engine, transport
        self.auth, self.context = creds.auth_data(), creds.context()
        self.requests = 0

    async def get(self, oids: list[Oid]) -> list[tuple[Oid, Any]]:
        self.requests += 1
        request = [ObjectType(ObjectIdentity(oid)) for oid in oids]
        indication, status, index, varbinds = await get_cmd(self.engine, self.auth, self.transport, self.context,
                                                            *request, lookupMib=False)
        return self._checked(indication, status, index, varbinds)

    async def bulk(self, non_repeaters: list[Oid], oids: list[Oid], max_repetitions: int) -> list[tuple[Oid, Any]]:
        self.requests += 1
        request = [ObjectType(ObjectIdentity(oid)) for oid in [*non_repeaters, *oids]]
        indication, status, index, varbinds = await bulk_cmd(self.engine, self.auth, self.transport, self.context,
                                                             len(non_repeaters), max_repetitions, *request,
                                                             lookupMib=False)
        return self._checked(indication, status, index, varbinds)

    @staticmethod
    def _checked(indication: Any, status: Any, index: Any, varbinds: Any) -> list[tuple[Oid, Any]]:
        if indication:
            raise SnmpRequestError(str(indication))
        if status:
            raise SnmpRequestError(f"{status.prettyPrint()} at varbind {int(index)}")
        return [(tuple(oid), value) for oid, value in varbinds]


async def _walk(session: _Session, wanted: dict[str, Oid], max_repetitions: int, walk: _Walk,
                tables: bool = False) -> None:
    """GETBULK all unfinished columns together until each one has left its subtree.

    Rows are keyed by ifIndex (the interface tables' only index), or with `tables` by the whole index tuple.
    """
    last = dict(wanted)
    for name in wanted:
        walk.columns.setdefault(name, {})
    pending = list(wanted)
    while pending:
        repetitions = max(1, min(max_repetitions, MAX_RESPONSE_VARBINDS // len(pending)))
        # sysUpTime rides along as a non-repeater (GETNEXT of its parent), giving each response its own timestamp
        answer = await session.bulk([SYS_UPTIME[:-1]], [last[name] for name in pending], repetitions)
        if not answer:
            raise SnmpRequestError("GETBULK answered no var-binds")
        uptime, *varbinds = answer
        uptime_ticks = int(uptime[1]) if uptime[0] == SYS_UPTIME else None
        walk.requests += 1
        finished: set[str] = set()
        advanced = False
        for position, (oid, value) in enumerate(varbinds):
            name = pending[position % len(pending)]
            prefix = wanted[name]
            if name in finished:
                continue
            if isinstance(value, EXCEPTION_VALUES) or oid[: len(prefix)] != prefix or oid <= last[name]:
                finished.add(name)
                continue
            if tables and len(oid) > len(prefix):
                walk.columns[name][oid[len(prefix):]] = value
            elif len(oid) == len(prefix) + 1:  # ifIndex is the only index of both interface tables
                walk.columns[name][oid[-1]] = value
                if name == "in_octets" and uptime_ticks is not None:
                    walk.row_uptimes[oid[-1]] = uptime_ticks
            last[name] = oid
            advanced = True
        if not advanced and not finished:
            raise SnmpRequestError("GETBULK answered nothing new")
        pending = [name for name in pending if name not in finished]
    walk.complete = True


def _counters(columns: dict[str, dict[int, Any]], row_uptimes: dict[int, int]) -> tuple[InterfaceCounters, ...]:
    indexes = sorted({index for rows in columns.values() for index in rows if 1 <= index <= 2**31 - 1})
    interfaces = []
    for index in indexes:
        row: dict[str, Any] = {"uptime_ticks": row_uptimes.get(index)}
        for name, rows in columns.items():
            if index in rows:
                row[name] = _text(rows[index]) if name in TEXT_COLUMNS else int(rows[index])
        speed_bps = row.pop("speed_bps", None)
        if not row.get("high_speed_mbps") and speed_bps is not None and speed_bps < 2**32 - 1:
            row["high_speed_mbps"] = speed_bps // 1_000_000
        oper = OPER_STATUS_BY_NUMBER.get(row.pop("oper_status", 0), OperStatus.unknown)
        admin = ADMIN_STATUS_BY_NUMBER.get(row.pop("admin_status", 0), AdminStatus.unknown)
        interfaces.append(InterfaceCounters(if_index=index, oper_status=oper, admin_status=admin, **row))
    return tuple(interfaces)


def _hc_usable(columns: dict[str, dict[int, Any]]) -> bool:
    """Some devices leave ifHC* out, others answer 0 for all of them: either way use the 32-bit counters."""
    return any(int(value) for name in HC_COLUMNS for value in columns.get(name, {}).values())


async def _walk_interfaces(session: _Session, prefer_hc: bool, max_repetitions: int, walk: _Walk) -> bool:
    """Walk the interface columns into `walk`; returns whether the octets are 64-bit."""
    await _walk(session, COMMON_COLUMNS | (HC_COLUMNS if prefer_hc else LEGACY_COLUMNS), max_repetitions, walk)
    if not prefer_hc or _hc_usable(walk.columns):
        return prefer_hc
    for name in HC_COLUMNS:
        walk.columns.pop(name, None)
    walk.row_uptimes.clear()
    walk.complete = False
    await _walk(session, LEGACY_COLUMNS, max_repetitions, walk)
    return False


def _identifier(value: Any) -> str:
    """An LLDP chassis or port id: its text if printable, else colon-separated hex (a MAC address, say)."""
    raw = value if isinstance(value, bytes) else bytes(value.asOctets()) if hasattr(value, "asOctets") else b""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        text = ""
    if raw and text.isprintable():
        return text[:255]
    return ":".join(f"{byte:02x}" for byte in raw)[:255]


def _neighbours(device_id: str, columns: dict[str, dict[Any, Any]], at: datetime) -> tuple[TopologyLinkObserved, ...]:
    """One TopologyLinkObserved per lldpRemTable row with a chassis id; the local port named by lldpLocPortId."""
    local_ports = {index[0]: _identifier(value) for index, value in columns.get("local_port_id", {}).items()
                   if len(index) == 1 and not isinstance(value, EXCEPTION_VALUES)}

    def column(name: str, index: Oid, render: Callable[[Any], str] = _identifier) -> str:
        value = columns.get(name, {}).get(index)
        return "" if value is None or isinstance(value, EXCEPTION_VALUES) else render(value)

    found: dict[str, TopologyLinkObserved] = {}
    for index in sorted(columns.get("chassis_id", {})):
        if len(index) != 3:
            continue
        chassis = column("chassis_id", index)
        if not chassis:
            continue
        local_port = local_ports.get(index[1]) or str(index[1])
        found[local_port] = TopologyLinkObserved(  # one neighbour per local port: the newest row wins
            device_id=device_id, local_port=local_port, remote_chassis_id=chassis, remote_port=column("port_id", index),
            remote_sys_name=column("sys_name", index, _text), at=at)
    return tuple(found.values())


async def _walk_neighbours(session: _Session, device_id: str, at: datetime, max_repetitions: int,
                           deadline: float) -> tuple[TopologyLinkObserved, ...]:
    """Best effort: no LLDP-MIB, an SNMP error or the deadline give no neighbours (a cut walk is not half-used)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return ()
    walk = _Walk()
    try:
        async with asyncio.timeout(remaining):
            await _walk(session, LLDP_COLUMNS, max_repetitions, walk, tables=True)
    except (TimeoutError, SnmpRequestError):
        return ()
    except Exception:  # an odd answer to an optional MIB must not fail the poll
        return ()
    return _neighbours(device_id, walk.columns, at)


async def _open_session(engine: SnmpEngine, target: Target, creds: Credentials, fast_v2c: bool) -> _Session:
    if fast_v2c and isinstance(creds, V2cCredentials):
        client = shared_client(engine)  # one socket per engine, i.e. per poller
        family, address = await client.resolve(target.host, target.port)
        return V2cSession(client, family, address, creds.community.encode(), target.timeout_s, target.retries)
    transport_type = Udp6TransportTarget if ":" in target.host else UdpTransportTarget
    transport = await transport_type.create((target.host, target.port), timeout=target.timeout_s,
                                            retries=target.retries)
    return _PysnmpSession(engine, transport, creds)


def close_engine(engine: SnmpEngine) -> None:
    """Release what polling through `engine` opened: pysnmp's dispatcher and the v2c fast path's sockets."""
    close_shared_client(engine)
    engine.close_dispatcher()


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
            session = await _open_session(engine, target, creds, fast_v2c)
            system = dict(await session.get([SYS_UPTIME, SYS_NAME, SYS_DESCR, SYS_OBJECT_ID]))
    except TimeoutError:
        return unreachable(f"no answer within the {deadline_s:g} s deadline", 1)
    except SnmpRequestError as e:
        return unreachable(str(e), 1)
    except Exception as e:  # pysnmp raises PySnmpError and plain errors for bad addresses and malformed answers
        return unreachable(f"{type(e).__name__}: {e}", 1)
    if isinstance(system.get(SYS_UPTIME), EXCEPTION_VALUES) or SYS_UPTIME not in system:
        return unreachable("the agent has no sysUpTime", session.requests)
    sampled_at, response_ms = clock(), elapsed() * 1000

    walk = _Walk()
    hc = prefer_hc
    remaining = deadline - time.monotonic()
    try:
        async with asyncio.timeout(max(remaining, 0)):
            hc = await _walk_interfaces(session, prefer_hc, max_repetitions, walk)
    except TimeoutError:
        pass
    except SnmpRequestError:
        pass  # what was walked so far stands, flagged partial
    if not walk.complete and hc and not _hc_usable(walk.columns):
        hc = False  # cut before the HC check could be made: do not claim 64-bit for counters we do not have
        for name in HC_COLUMNS:
            walk.columns.pop(name, None)
        walk.row_uptimes.clear()

    def text(oid: Oid) -> str:
        value = system.get(oid)
        return "" if value is None or isinstance(value, EXCEPTION_VALUES) else _text(value)

    object_id = system.get(SYS_OBJECT_ID)
    identity = DeviceIdentified(
        device_id=target.device_id, at=sampled_at, sys_name=text(SYS_NAME), sys_descr=text(SYS_DESCR),
        sys_object_id="" if object_id is None or isinstance(object_id, EXCEPTION_VALUES) else _oid_text(object_id))
    sample = InterfaceCountersSampled(
        device_id=target.device_id, sampled_at=sampled_at, sys_uptime_ticks=int(system[SYS_UPTIME]), hc=hc,
        interfaces=_counters(walk.columns, walk.row_uptimes), partial=not walk.complete,
        poll_ms=round(elapsed() * 1000, 1))
    neighbours = await _walk_neighbours(session, target.device_id, sampled_at, max_repetitions, deadline) \
        if lldp and walk.complete else ()
    reachable = DeviceReachable(device_id=target.device_id, at=sampled_at, response_ms=response_ms)
    return PollResult(target.device_id, started_at, elapsed(), reachable=reachable, identity=identity,
                      sample=sample, neighbours=neighbours, requests=session.requests)
