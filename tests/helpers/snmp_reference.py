"""pysnmp/pyasn1 as the reference SNMPv2c encoder in tests of our own codec (producers/devices/snmp/ber.py)."""

from __future__ import annotations

from typing import Any

from pyasn1.codec.ber import encoder as asn1_encoder
from pysnmp.proto import api

from producers.devices.snmp.ber import Oid

V2C: Any = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]


def pysnmp_response(request_id: int, varbinds: list[tuple[Oid, Any]], community: bytes = b"public",
                    error_status: int = 0, error_index: int = 0) -> bytes:
    message = V2C.Message()
    V2C.apiMessage.set_defaults(message)
    V2C.apiMessage.set_community(message, community)
    pdu = V2C.GetResponsePDU()
    V2C.apiPDU.set_defaults(pdu)
    V2C.apiPDU.set_request_id(pdu, request_id)
    V2C.apiPDU.set_error_status(pdu, error_status)
    V2C.apiPDU.set_error_index(pdu, error_index)
    V2C.apiPDU.set_varbinds(pdu, varbinds)
    V2C.apiMessage.set_pdu(message, pdu)
    return bytes(asn1_encoder.encode(message))
