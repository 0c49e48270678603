"""Discovery: ask every address of a bounded range for its system group, each set of credentials in turn.

Rate-limited (one new address every 1/rate seconds) and bounded in concurrency; an address that answers no
credentials is simply not found. Emits nothing itself: the caller turns finds into DeviceDiscovered events.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from pysnmp.hlapi.v3arch.asyncio import (
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    Udp6TransportTarget,
    UdpTransportTarget,
    get_cmd,
)

from producers.devices.outbound import Outbound
from producers.devices.snmp.credentials import Credentials
from producers.devices.snmp.walk import EXCEPTION_VALUES, SYS_DESCR, SYS_NAME, SYS_OBJECT_ID, text_of


@dataclass(frozen=True)
class Found:
    ip: str
    credentials_index: int  # which of the given credentials answered
    sys_name: str
    sys_descr: str
    sys_object_id: str


def hosts_of(cidr: str, max_hosts: int, outbound: Outbound) -> list[str]:
    """The addresses a sweep of `cidr` asks (those outbound polls may reach); ValueError for a bad CIDR, one wider
    than `max_hosts`, or one with no address polls may reach."""
    network = ipaddress.ip_network(cidr.strip(), strict=False)
    size = network.num_addresses - (2 if network.version == 4 and network.prefixlen < 31 else 0)
    if size > max_hosts:
        raise ValueError(f"{network} holds {size} addresses; a sweep may cover at most {max_hosts}")
    hosts = [str(host) for host in (network.hosts() if size != network.num_addresses else network)]
    allowed = [host for host in hosts if outbound.permits(host)]
    if not allowed:
        raise ValueError(f"{network} holds no address polls may reach (OPSLEDGER_OUTBOUND_ALLOW_NETWORKS)")
    return allowed


async def ask(engine: SnmpEngine, ip: str, port: int, creds: Credentials, timeout_s: float) -> Found | None:
    transport_type = Udp6TransportTarget if ":" in ip else UdpTransportTarget
    try:
        transport = await transport_type.create((ip, port), timeout=timeout_s, retries=0)
        indication, status, _, varbinds = await get_cmd(
            engine, creds.auth_data(), transport, creds.context(),
            *(ObjectType(ObjectIdentity(oid)) for oid in (SYS_NAME, SYS_DESCR, SYS_OBJECT_ID)), lookupMib=False)
    except Exception:  # an address pysnmp cannot reach is an address that did not answer
        return None
    if indication or status:
        return None
    values = {tuple(oid): value for oid, value in varbinds}

    def text(oid: tuple[int, ...]) -> str:
        value = values.get(oid)
        return "" if value is None or isinstance(value, EXCEPTION_VALUES) else text_of(value)

    object_id = values.get(SYS_OBJECT_ID)
    oid_text = "" if object_id is None or isinstance(object_id, EXCEPTION_VALUES) else str(object_id)
    return Found(ip, 0, text(SYS_NAME), text(SYS_DESCR), oid_text)


async def sweep(engine: SnmpEngine, hosts: Sequence[str], port: int, credentials: Sequence[Credentials], *,
                rate_per_s: float, timeout_s: float = 1.0, max_concurrent: int = 32) -> list[Found]:
    slots = asyncio.Semaphore(max_concurrent)
    found: list[Found] = []

    async def one(ip: str) -> None:
        async with slots:
            for index, creds in enumerate(credentials):
                answer = await ask(engine, ip, port, creds, timeout_s)
                if answer is not None:
                    found.append(Found(ip, index, answer.sys_name, answer.sys_descr, answer.sys_object_id))
                    return

    async with asyncio.TaskGroup() as group:
        for ip in hosts:
            group.create_task(one(ip))
            await asyncio.sleep(1 / rate_per_s)
    return sorted(found, key=lambda f: ipaddress.ip_address(f.ip))
