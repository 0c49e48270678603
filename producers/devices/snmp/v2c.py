"""The SNMPv2c fast path: one UDP socket per poller (per address family), shared by every device it polls.

Requests are told apart by request-id, and an answer counts only if it comes from the address asked, carries the
community asked with, and decodes as a Response: anything else is dropped as a stray datagram. Each request is
resent up to `retries` times under the same request-id (a late answer to an earlier try is still welcome), then
fails with `SnmpRequestError`. SNMPv3 stays on pysnmp; this module knows nothing of USM.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import logging
import random
import socket
import weakref
from dataclasses import dataclass
from typing import cast

from producers.devices.snmp import ber
from producers.devices.snmp.ber import Oid, Value

log = logging.getLogger(__name__)

NO_RESPONSE = "No SNMP response received before timeout"  # pysnmp's wording, so reasons read the same either way


class SnmpRequestError(Exception):
    """The agent did not answer, refused the credentials, or answered with an SNMP error status."""


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[ber.Message]
    address: tuple[str, int]
    community: bytes


class _Endpoint(asyncio.DatagramProtocol):
    """One unconnected UDP socket; hands each valid Response to the request waiting for its request-id."""

    def __init__(self, pending: dict[int, _Pending]) -> None:
        self.pending = pending
        self.transport: asyncio.DatagramTransport | None = None
        self.dropped = 0
        self.malformed: dict[tuple[str, int], str] = {}  # the last undecodable answer per source, to explain a timeout

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # 3.11's selector transport is not a subclass

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        try:
            message = ber.decode_response(data)
        except ber.BerError as e:
            self.dropped += 1
            if len(self.malformed) > 1024:
                self.malformed.clear()
            self.malformed[(str(addr[0]), int(str(addr[1])))] = str(e)
            log.debug("dropped a malformed SNMP datagram from %s: %s", addr, e)
            return
        waiting = self.pending.get(message.request_id)
        if (waiting is None or waiting.future.done() or tuple(addr[:2]) != waiting.address
                or message.community != waiting.community):
            self.dropped += 1  # late (already answered or given up), or not from whom we asked
            return
        waiting.future.set_result(message)

    def error_received(self, exc: Exception) -> None:
        # an ICMP port unreachable on Linux; the unconnected socket cannot say which request it was: let it time out
        log.debug("SNMP socket error: %s", exc)


class V2cClient:
    """Sends v2c requests from one shared socket per address family and matches the answers by request-id."""

    def __init__(self) -> None:
        self._pending: dict[int, _Pending] = {}
        self._endpoints: dict[int, _Endpoint] = {}
        self._opening: dict[int, asyncio.Lock] = {}
        self._ids = itertools.count(random.randrange(1, 2**30))
        self.loop = asyncio.get_running_loop()

    async def _endpoint(self, family: int) -> _Endpoint:
        endpoint = self._endpoints.get(family)
        if endpoint is not None:
            return endpoint
        async with self._opening.setdefault(family, asyncio.Lock()):
            if family not in self._endpoints:
                local = ("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0)
                _, protocol = await self.loop.create_datagram_endpoint(lambda: _Endpoint(self._pending),
                                                                       local_addr=local, family=family)
                self._endpoints[family] = protocol
        return self._endpoints[family]

    def _next_id(self) -> int:
        while True:
            request_id = next(self._ids) % (2**31 - 1) + 1
            if request_id not in self._pending:
                return request_id

    async def resolve(self, host: str, port: int) -> tuple[int, tuple[str, int]]:
        """(family, (address, port)) for an IP literal or a host name (its first UDP address)."""
        try:
            ip = ipaddress.ip_address(host)
            return (socket.AF_INET6 if ip.version == 6 else socket.AF_INET), (str(ip), port)
        except ValueError:
            pass
        found = await self.loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        if not found:
            raise SnmpRequestError(f"cannot resolve {host}")
        family, _, _, _, sockaddr = found[0]
        return family, (str(sockaddr[0]), port)

    async def request(self, family: int, address: tuple[str, int], community: bytes, pdu_type: int, oids: list[Oid],
                      *, timeout_s: float, retries: int, non_repeaters: int = 0,
                      max_repetitions: int = 0) -> list[tuple[Oid, Value]]:
        """Send one request (plus bounded retries) and return the answer's var-binds, or raise SnmpRequestError."""
        endpoint = await self._endpoint(family)
        request_id = self._next_id()
        message = ber.encode_request(pdu_type, request_id, community, oids, non_repeaters=non_repeaters,
                                     max_repetitions=max_repetitions)
        future: asyncio.Future[ber.Message] = self.loop.create_future()
        self._pending[request_id] = _Pending(future, address, community)
        try:
            for _ in range(retries + 1):
                assert endpoint.transport is not None
                endpoint.transport.sendto(message, address)
                done, _ = await asyncio.wait((future,), timeout=timeout_s)
                if done:
                    break
            else:
                malformed = endpoint.malformed.pop(address, None)
                raise SnmpRequestError(NO_RESPONSE + (f" (dropped an undecodable answer: {malformed})"
                                                      if malformed else ""))
        finally:
            self._pending.pop(request_id, None)
            future.cancel()  # a no-op once answered; otherwise nobody may set it any more
        answer = future.result()
        if answer.error_status:
            raise SnmpRequestError(f"{answer.error_name} at varbind {answer.error_index}")
        return answer.varbinds

    def close(self) -> None:
        for endpoint in self._endpoints.values():
            if endpoint.transport is not None:
                endpoint.transport.close()
        self._endpoints.clear()


_clients: weakref.WeakKeyDictionary[object, V2cClient] = weakref.WeakKeyDictionary()


def shared_client(owner: object) -> V2cClient:
    """The client belonging to `owner` (the poller's SnmpEngine) on the running loop; made on first use."""
    client = _clients.get(owner)
    if client is None or client.loop is not asyncio.get_running_loop() or client.loop.is_closed():
        client = _clients[owner] = V2cClient()
    return client


def close_shared_client(owner: object) -> None:
    client = _clients.pop(owner, None)
    if client is not None and not client.loop.is_closed():
        client.close()


class V2cSession:
    """poll.py's session interface (get, bulk, requests) over the shared client, for one device."""

    def __init__(self, client: V2cClient, family: int, address: tuple[str, int], community: bytes,
                 timeout_s: float, retries: int) -> None:
        self.client, self.family, self.address, self.community = client, family, address, community
        self.timeout_s, self.retries = timeout_s, retries
        self.requests = 0

    async def get(self, oids: list[Oid]) -> list[tuple[Oid, Value]]:
        self.requests += 1
        return await self.client.request(self.family, self.address, self.community, ber.GET_REQUEST, oids,
                                         timeout_s=self.timeout_s, retries=self.retries)

    async def bulk(self, non_repeaters: list[Oid], oids: list[Oid], max_repetitions: int) -> list[tuple[Oid, Value]]:
        self.requests += 1
        return await self.client.request(self.family, self.address, self.community, ber.GET_BULK_REQUEST,
                                         [*non_repeaters, *oids], timeout_s=self.timeout_s, retries=self.retries,
                                         non_repeaters=len(non_repeaters), max_repetitions=max_repetitions)
