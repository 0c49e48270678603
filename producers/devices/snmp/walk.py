"""Walking an agent's tables: GETBULK of only the wanted columns, all unfinished columns in each request, each column
until it leaves its subtree (a 48-port switch takes a handful of requests); the interface rows turned into counters;
LLDP-MIB neighbours, best effort."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pysnmp.proto.rfc1905 import EndOfMibView, NoSuchInstance, NoSuchObject

from producers.devices.snmp import ber
from producers.devices.snmp.session import Oid, Session
from producers.devices.snmp.v2c import SnmpRequestError
from schemas.devices.events import (
    ADMIN_STATUS_BY_NUMBER,
    OPER_STATUS_BY_NUMBER,
    AdminStatus,
    InterfaceCounters,
    OperStatus,
    TopologyLinkObserved,
)

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
# walked only when some row has no ifName (an agent without ifXTable): the interface is then named by ifDescr
DESCR_COLUMN: dict[str, Oid] = {"descr": (*IF_ENTRY, 2)}
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
TEXT_COLUMNS = {"name", "alias", "descr"}
MAX_RESPONSE_VARBINDS = 250  # keeps a GETBULK answer under typical agents' message size with 11 columns



@dataclass
class Walk:
    """Rows gathered so far; kept outside the timed coroutine so a deadline leaves them readable."""

    columns: dict[str, dict[Any, Any]] = field(default_factory=dict)  # by ifIndex, or by index tuple (tables=True)
    row_uptimes: dict[int, int] = field(default_factory=dict)  # sysUpTime of the response carrying a row's in_octets
    requests: int = 0
    complete: bool = False


def text_of(value: Any) -> str:
    raw = value if isinstance(value, bytes) else bytes(value.asOctets()) if hasattr(value, "asOctets") else b""
    return raw.decode("utf-8", "replace").replace("\x00", "")[:255]


def oid_text(value: Any) -> str:
    """Dotted text of an OBJECT IDENTIFIER value, whichever path decoded it."""
    return ".".join(map(str, value)) if isinstance(value, tuple) else str(value)


async def walk_columns(session: Session, wanted: dict[str, Oid], max_repetitions: int, walk: Walk,
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


def counters(columns: dict[str, dict[int, Any]], row_uptimes: dict[int, int]) -> tuple[InterfaceCounters, ...]:
    indexes = sorted(interface_indexes(columns))
    interfaces = []
    for index in indexes:
        row: dict[str, Any] = {"uptime_ticks": row_uptimes.get(index)}
        for name, rows in columns.items():
            if index in rows:
                row[name] = text_of(rows[index]) if name in TEXT_COLUMNS else int(rows[index])
        descr = row.pop("descr", None)
        if not row.get("name") and descr:
            row["name"] = descr
        speed_bps = row.pop("speed_bps", None)
        if not row.get("high_speed_mbps") and speed_bps is not None and speed_bps < 2**32 - 1:
            row["high_speed_mbps"] = speed_bps // 1_000_000
        oper = OPER_STATUS_BY_NUMBER.get(row.pop("oper_status", 0), OperStatus.unknown)
        admin = ADMIN_STATUS_BY_NUMBER.get(row.pop("admin_status", 0), AdminStatus.unknown)
        interfaces.append(InterfaceCounters(if_index=index, oper_status=oper, admin_status=admin, **row))
    return tuple(interfaces)


def hc_usable(columns: dict[str, dict[int, Any]]) -> bool:
    """Some devices leave ifHC* out, others answer 0 for all of them: either way use the 32-bit counters."""
    return any(int(value) for name in HC_COLUMNS for value in columns.get(name, {}).values())


async def walk_interfaces(session: Session, prefer_hc: bool, max_repetitions: int, walk: Walk) -> bool:
    """Walk the interface columns into `walk`; returns whether the octets are 64-bit. Rows without an ifName get
    their ifDescr (one more walk, only on agents that need it)."""
    await walk_columns(session, COMMON_COLUMNS | (HC_COLUMNS if prefer_hc else LEGACY_COLUMNS), max_repetitions, walk)
    hc = prefer_hc
    if prefer_hc and not hc_usable(walk.columns):
        for name in HC_COLUMNS:
            walk.columns.pop(name, None)
        walk.row_uptimes.clear()
        walk.complete = False
        await walk_columns(session, LEGACY_COLUMNS, max_repetitions, walk)
        hc = False
    names = walk.columns.get("name", {})
    if any(not text_of(names[index]) if index in names else True for index in interface_indexes(walk.columns)):
        walk.complete = False
        await walk_columns(session, DESCR_COLUMN, max_repetitions, walk)
    return hc


def interface_indexes(columns: dict[str, dict[int, Any]]) -> set[int]:
    return {index for rows in columns.values() for index in rows if 1 <= index <= 2**31 - 1}


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


def neighbours_of(device_id: str, columns: dict[str, dict[Any, Any]], at: datetime) -> tuple[TopologyLinkObserved, ...]:
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
            remote_sys_name=column("sys_name", index, text_of), at=at)
    return tuple(found.values())


async def walk_neighbours(session: Session, device_id: str, at: datetime, max_repetitions: int,
                           deadline: float) -> tuple[TopologyLinkObserved, ...]:
    """Best effort: no LLDP-MIB, an SNMP error or the deadline give no neighbours (a cut walk is not half-used)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return ()
    walk = Walk()
    try:
        async with asyncio.timeout(remaining):
            await walk_columns(session, LLDP_COLUMNS, max_repetitions, walk, tables=True)
    except (TimeoutError, SnmpRequestError):
        return ()
    except Exception:  # an odd answer to an optional MIB must not fail the poll
        return ()
    return neighbours_of(device_id, walk.columns, at)
