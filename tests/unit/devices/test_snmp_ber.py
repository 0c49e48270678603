"""The v2c BER codec against pysnmp/pyasn1 as the reference: their encoder -> our decoder, ours -> theirs."""

from __future__ import annotations

import functools
from ipaddress import IPv4Address
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder as asn1_decoder
from pyasn1.codec.ber import encoder as asn1_encoder

from producers.devices.snmp import ber
from producers.devices.snmp.ber import BerError, Oid, VarBindException
from tests.helpers.snmp_reference import V2C, pysnmp_response

SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)

# A GetResponse to `GET sysUpTime.0 sysName.0`, community "public", request-id 42: 12345 ticks and "sw1",
# laid out by hand from RFC 3416 and X.690 the way Wireshark dissects such a packet
KNOWN_RESPONSE = bytes.fromhex(
    "3039" "020101" "0406" "7075626c6963"  # SEQUENCE { version 1 (v2c), community "public"
    "a22c" "02012a" "020100" "020100"  # Response { request-id 42, error-status 0, error-index 0
    "3021"  # variable-bindings
    "300e" "06082b06010201010300" "43023039"  # sysUpTime.0 = TimeTicks 12345
    "300f" "06082b06010201010500" "0403737731"  # sysName.0 = OCTET STRING "sw1"
)


def pysnmp_decode(data: bytes) -> tuple[Any, Any]:
    message, rest = asn1_decoder.decode(data, asn1Spec=V2C.Message())
    assert not rest
    return message, V2C.apiMessage.get_pdu(message)


oids = st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=40).flatmap(
    lambda tail: st.sampled_from([(0,), (1,), (2,)]).flatmap(
        lambda first: st.integers(0, 39 if first[0] < 2 else 2**32 - 1 - 80).map(lambda second: (*first, second,
                                                                                                    *tail))))
# (pysnmp value, what our decoder should give back)
values = st.one_of(
    st.integers(-(2**31), 2**31 - 1).map(lambda n: (V2C.Integer(n), n)),
    st.binary(max_size=300).map(lambda b: (V2C.OctetString(b), b)),
    st.just((V2C.Null(""), None)),
    oids.map(lambda oid: (V2C.ObjectIdentifier(oid), oid)),
    st.binary(min_size=4, max_size=4).map(lambda b: (V2C.IpAddress(b), IPv4Address(b))),
    st.integers(0, 2**32 - 1).map(lambda n: (V2C.Counter32(n), n)),
    st.integers(0, 2**32 - 1).map(lambda n: (V2C.Gauge32(n), n)),
    st.integers(0, 2**32 - 1).map(lambda n: (V2C.TimeTicks(n), n)),
    st.binary(max_size=50).map(lambda b: (V2C.Opaque(b), b)),
    st.integers(0, 2**64 - 1).map(lambda n: (V2C.Counter64(n), n)),
    st.sampled_from([(V2C.NoSuchObject(""), VarBindException.no_such_object),
                     (V2C.NoSuchInstance(""), VarBindException.no_such_instance),
                     (V2C.EndOfMibView(""), VarBindException.end_of_mib_view)]),
)


def test_a_known_response_decodes_to_plain_values() -> None:
    message = ber.decode_response(KNOWN_RESPONSE)
    assert (message.community, message.request_id, message.error_status) == (b"public", 42, 0)
    assert message.varbinds == [(SYS_UPTIME, 12345), ((1, 3, 6, 1, 2, 1, 1, 5, 0), b"sw1")]


def test_the_snmpsim_helpers_hand_built_get_is_what_we_encode() -> None:
    from infra.bench.snmpsim import _get_request

    assert ber.encode_request(ber.GET_REQUEST, 1, b"public", [SYS_UPTIME]) == _get_request("public")


def test_a_getbulk_request_has_the_bytes_pysnmp_gives_it() -> None:
    ours = ber.encode_request(ber.GET_BULK_REQUEST, 1234567, b"public", [SYS_UPTIME[:-1], (1, 3, 6, 1, 2, 1, 31)],
                              non_repeaters=1, max_repetitions=25)
    message = V2C.Message()
    V2C.apiMessage.set_defaults(message)
    V2C.apiMessage.set_community(message, b"public")
    pdu = V2C.GetBulkRequestPDU()
    V2C.apiBulkPDU.set_defaults(pdu)
    V2C.apiBulkPDU.set_request_id(pdu, 1234567)
    V2C.apiBulkPDU.set_non_repeaters(pdu, 1)
    V2C.apiBulkPDU.set_max_repetitions(pdu, 25)
    V2C.apiBulkPDU.set_varbinds(pdu, [(SYS_UPTIME[:-1], V2C.Null("")), ((1, 3, 6, 1, 2, 1, 31), V2C.Null(""))])
    V2C.apiMessage.set_pdu(message, pdu)
    assert ours == bytes(asn1_encoder.encode(message))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request_id=st.integers(-(2**31), 2**31 - 1), community=st.binary(max_size=200),
       names=st.lists(oids, min_size=1, max_size=60), bulk=st.booleans(),
       non_repeaters=st.integers(0, 10), max_repetitions=st.integers(0, 2**31 - 1))
def test_requests_round_trip_through_pyasn1_and_our_decoder(request_id: int, community: bytes, names: list[Oid],
                                                            bulk: bool, non_repeaters: int,
                                                            max_repetitions: int) -> None:
    pdu_type = ber.GET_BULK_REQUEST if bulk else ber.GET_REQUEST
    extra = {"non_repeaters": non_repeaters, "max_repetitions": max_repetitions} if bulk else {}
    encoded = ber.encode_request(pdu_type, request_id, community, names, **extra)
    message, pdu = pysnmp_decode(encoded)
    assert bytes(V2C.apiMessage.get_community(message)) == community
    assert int(V2C.apiPDU.get_request_id(pdu)) == request_id
    assert [tuple(oid) for oid, _ in V2C.apiPDU.get_varbinds(pdu)] == names
    if bulk:
        assert int(V2C.apiBulkPDU.get_max_repetitions(pdu)) == max_repetitions
    ours = ber.decode_message(encoded)
    assert (ours.pdu_type, ours.request_id, ours.community) == (pdu_type, request_id, community)
    assert ours.varbinds == [(oid, None) for oid in names]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request_id=st.integers(-(2**31), 2**31 - 1), community=st.binary(max_size=100),
       varbinds=st.lists(st.tuples(oids, values), max_size=12), error_status=st.integers(0, 18),
       error_index=st.integers(0, 40))
def test_responses_pysnmp_encodes_decode_to_the_same_values(request_id: int, community: bytes,
                                                            varbinds: list[tuple[Oid, tuple[Any, Any]]],
                                                            error_status: int, error_index: int) -> None:
    encoded = pysnmp_response(request_id, [(oid, value) for oid, (value, _) in varbinds], community,
                              error_status, error_index)
    message = ber.decode_response(encoded)
    assert (message.request_id, message.community) == (request_id, community)
    assert (message.error_status, message.error_index) == (error_status, error_index)
    assert message.varbinds == [(oid, expected) for oid, (_, expected) in varbinds]


@settings(max_examples=1000)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_decode_or_raise_ber_error(data: bytes) -> None:
    try:
        ber.decode_message(data)
    except BerError:
        pass


@functools.cache
def _valid_response() -> bytes:
    return pysnmp_response(7, [(SYS_UPTIME, V2C.TimeTicks(99)), ((1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 1),
                                                                 V2C.Counter64(2**40)),
                               ((1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1, 1), V2C.OctetString(b"Gi1/0/1")),
                               ((1, 3, 6, 1, 2, 1, 2, 2, 1, 8, 1), V2C.EndOfMibView(""))])


@settings(max_examples=500)
@given(st.data())
def test_damaged_responses_decode_or_raise_ber_error(data: st.DataObject) -> None:
    """Near-valid input reaches the deep branches random bytes rarely do: flip, cut, insert."""
    damaged = bytearray(_valid_response())
    for _ in range(data.draw(st.integers(1, 4))):
        where = data.draw(st.integers(0, len(damaged) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        if action == "flip":
            damaged[where] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del damaged[where]
        elif action == "insert":
            damaged.insert(where, data.draw(st.integers(0, 255)))
        else:
            del damaged[where:]
        if not damaged:
            return
    try:
        ber.decode_response(bytes(damaged))
    except BerError:
        pass


@pytest.mark.parametrize(("hex_message", "complaint"), [
    ("", "truncated"),
    ("3080020101", "indefinite length"),
    ("308500000000ff", "bad long-form length"),
    ("3003020101" "00", "trailing octets"),
    ("3003020100", "version 0 is not v2c"),
    ("3003020103", "version 3 is not v2c"),
    ("300b020101040170a105020101", "runs past"),
    ("30080201010401701f00", "high tag number"),
    ("3008020101040170b000", "unknown PDU type"),
    ("30030205010000", "trailing octets"),
])
def test_malformed_messages_are_refused_with_a_reason(hex_message: str, complaint: str) -> None:
    with pytest.raises(BerError, match=complaint):
        ber.decode_message(bytes.fromhex(hex_message))


@pytest.mark.parametrize(("value_tlv", "complaint"), [
    ("4105ff00000000", "out of range"),  # Counter32 above 2^32-1
    ("4101ff", "out of range"),  # a negative Counter32
    ("02050100000000", "out of the Integer32 range"),  # 2^32 as an INTEGER
    ("020a01000000000000000000", "10 octets"),
    ("4600", "0 octets"),  # an empty Counter64
    ("400300000a", "IpAddress of 3 octets"),
    ("0600", "empty or unterminated"),
    ("06022b86", "unterminated"),
    ("06032b8001", "leading 0x80"),
    ("820100", "with contents"),
    ("4700", "unknown value type"),
])
def test_malformed_values_are_refused_with_a_reason(value_tlv: str, complaint: str) -> None:
    value = bytes.fromhex(value_tlv)
    varbind = bytes.fromhex("06082b06010201010300") + value
    varbinds = bytes([0x30, len(varbind)]) + varbind
    pdu = bytes.fromhex("020101020100020100") + bytes([0x30, len(varbinds)]) + varbinds
    body = bytes.fromhex("0201010400") + bytes([0xA2, len(pdu)]) + pdu
    with pytest.raises(BerError, match=complaint):
        ber.decode_response(bytes([0x30, len(body)]) + body)


def test_a_request_is_not_a_response() -> None:
    with pytest.raises(BerError, match="expected a Response"):
        ber.decode_response(ber.encode_request(ber.GET_REQUEST, 1, b"public", [SYS_UPTIME]))


def test_an_error_status_is_named_as_rfc_3416_names_it() -> None:
    message = ber.decode_response(pysnmp_response(3, [(SYS_UPTIME, V2C.Null(""))], error_status=2, error_index=1))
    assert (message.error_name, message.error_index) == ("noSuchName", 1)
