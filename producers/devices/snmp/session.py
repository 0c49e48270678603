"""The two ways one poll talks SNMP: SNMPv2c over our own BER codec and one shared UDP socket
(producers/devices/snmp/v2c.py), SNMPv3 (and v2c when asked) through pysnmp 7's asyncio hlapi with numeric OIDs and
lookupMib=False. Both give the walk the same (oid, value) pairs."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
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

from producers.devices.outbound import Outbound
from producers.devices.snmp.credentials import Credentials, V2cCredentials
from producers.devices.snmp.v2c import SnmpRequestError, V2cSession, close_shared_client, shared_client

Oid = tuple[int, ...]


@dataclass(frozen=True)
class Target:
    """Where a device answers SNMP, and how long one request may take before a (bounded) retry."""

    device_id: str
    host: str
    port: int = 161
    timeout_s: float = 2.0
    retries: int = 1
    outbound: Outbound = field(default_factory=Outbound)  # where polls may go (checked after resolution)


class Session(Protocol):
    requests: int

    async def get(self, oids: list[Oid]) -> list[tuple[Oid, Any]]: ...

    async def bulk(self, non_repeaters: list[Oid], oids: list[Oid], max_repetitions: int) -> list[tuple[Oid, Any]]:
        ...


class PysnmpSession:
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


async def open_session(engine: SnmpEngine, target: Target, creds: Credentials, fast_v2c: bool) -> Session:
    family, address = await target.outbound.resolve(target.host, target.port, socket.SOCK_DGRAM)
    if fast_v2c and isinstance(creds, V2cCredentials):
        client = shared_client(engine)  # one socket per engine, i.e. per poller
        return V2cSession(client, family, (address, target.port), creds.community.encode(), target.timeout_s,
                          target.retries)
    transport_type = Udp6TransportTarget if family == socket.AF_INET6 else UdpTransportTarget
    transport = await transport_type.create((address, target.port), timeout=target.timeout_s,
                                            retries=target.retries)
    return PysnmpSession(engine, transport, creds)


def close_engine(engine: SnmpEngine) -> None:
    """Release what polling through `engine` opened: pysnmp's dispatcher and the v2c fast path's sockets."""
    close_shared_client(engine)
    engine.close_dispatcher()
