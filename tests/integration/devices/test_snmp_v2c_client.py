"""The shared-socket v2c client against a loopback responder we control: request-id demultiplexing, strays, retries.

snmpsim answers in order and never misbehaves; these peers answer out of order, from the wrong place, or not at all.
Their answers are encoded by pysnmp (the reference), not by our own codec.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from producers.devices.snmp import ber
from producers.devices.snmp.v2c import NO_RESPONSE, SnmpRequestError, V2cClient
from tests.helpers.snmp_reference import V2C, pysnmp_response

pytestmark = pytest.mark.integration
UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
Answer = Callable[[ber.Message, tuple[str, int], asyncio.DatagramTransport], None]


class Responder(asyncio.DatagramProtocol):
    def __init__(self, answer: Answer) -> None:
        self.answer, self.seen = answer, 0
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.seen += 1
        self.answer(ber.decode_message(data), addr, self.transport)


async def responder(answer: Answer) -> tuple[Responder, tuple[str, int]]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(lambda: Responder(answer), local_addr=("127.0.0.1", 0))
    return protocol, transport.get_extra_info("sockname")[:2]


def ticks_of(message: ber.Message, community: bytes | None = None) -> bytes:
    """An answer carrying the request-id as the uptime, so each caller can tell it got its own."""
    return pysnmp_response(message.request_id, [(UPTIME, V2C.TimeTicks(message.request_id))],
                           community or message.community)


@pytest.fixture
async def client() -> AsyncIterator[V2cClient]:
    made = V2cClient()
    yield made
    made.close()


async def ask(client: V2cClient, where: tuple[str, int], community: bytes = b"public", timeout_s: float = 1,
              retries: int = 0) -> list[tuple[Any, Any]]:
    return await client.request(socket.AF_INET, where, community, ber.GET_REQUEST, [UPTIME], timeout_s=timeout_s,
                                retries=retries)


async def test_answers_arriving_in_reverse_order_reach_their_own_requests(client: V2cClient) -> None:
    held: list[tuple[ber.Message, Any, Any]] = []

    def hold_then_answer_backwards(message: ber.Message, addr: Any, transport: Any) -> None:
        held.append((message, addr, transport))
        if len(held) == 20:
            for waiting, to, out in reversed(held):
                out.sendto(ticks_of(waiting), to)

    peer, where = await responder(hold_then_answer_backwards)
    answers = await asyncio.gather(*(ask(client, where) for _ in range(20)))
    sent_ids = sorted(message.request_id for message, _, _ in held)
    assert sorted(varbinds[0][1] for varbinds in answers) == sent_ids  # each got the answer to its own request-id
    assert len(set(sent_ids)) == 20
    peer.transport.close()


async def test_strays_are_dropped_and_the_real_answer_still_counts(client: V2cClient) -> None:
    def strays_first(message: ber.Message, addr: Any, transport: Any) -> None:
        transport.sendto(b"\x30\x03garbage", addr)
        transport.sendto(ticks_of(message, community=b"someone-else"), addr)  # right id, wrong community
        transport.sendto(pysnmp_response(message.request_id + 1, []), addr)  # nobody asked for this id
        transport.sendto(ticks_of(message), addr)

    peer, where = await responder(strays_first)
    assert (await ask(client, where))[0][1] > 0
    assert next(iter(client._endpoints.values())).dropped == 3
    peer.transport.close()


async def test_an_answer_from_another_address_is_not_taken(client: V2cClient) -> None:
    def answer_from_elsewhere(message: ber.Message, addr: Any, transport: Any) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
            other.sendto(ticks_of(message), addr)

    peer, where = await responder(answer_from_elsewhere)
    with pytest.raises(SnmpRequestError, match=NO_RESPONSE):
        await ask(client, where, timeout_s=0.3)
    peer.transport.close()


async def test_an_undecodable_answer_is_named_in_the_timeout(client: V2cClient) -> None:
    def unknown_type(message: ber.Message, addr: Any, transport: Any) -> None:
        answer = bytearray(ticks_of(message))
        value_at = len(answer) - len(ber.encode_integer(message.request_id))  # the TimeTicks TLV ends the message
        assert answer[value_at] == 0x43
        answer[value_at] = 0x47  # a tag RFC 2578 does not define
        transport.sendto(bytes(answer), addr)

    peer, where = await responder(unknown_type)
    with pytest.raises(SnmpRequestError, match="undecodable answer: unknown value type"):
        await ask(client, where, timeout_s=0.3)
    peer.transport.close()


async def test_a_lost_request_is_resent_under_the_same_request_id(client: V2cClient) -> None:
    ids: list[int] = []

    def ignore_the_first(message: ber.Message, addr: Any, transport: Any) -> None:
        ids.append(message.request_id)
        if len(ids) > 1:
            transport.sendto(ticks_of(message), addr)

    peer, where = await responder(ignore_the_first)
    assert (await ask(client, where, timeout_s=0.2, retries=2))[0][1] == ids[0]
    assert len(ids) == 2 and ids[0] == ids[1]
    peer.transport.close()


async def test_silence_fails_after_exactly_the_retries_and_an_error_status_is_named(client: V2cClient) -> None:
    silent, where = await responder(lambda message, addr, transport: None)
    with pytest.raises(SnmpRequestError, match=NO_RESPONSE):
        await ask(client, where, timeout_s=0.1, retries=2)
    assert silent.seen == 3 and not client._pending
    silent.transport.close()

    def refuse(message: ber.Message, addr: Any, transport: Any) -> None:
        transport.sendto(pysnmp_response(message.request_id, [(UPTIME, V2C.Null(""))], error_status=5,
                                         error_index=1), addr)

    refusing, where = await responder(refuse)
    with pytest.raises(SnmpRequestError, match="genErr at varbind 1"):
        await ask(client, where)
    refusing.transport.close()
