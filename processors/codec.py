"""Pydantic envelopes through a Faust codec. Decoding never raises: a bad message becomes a DecodeFailure
that the agent dead-letters, so one poison message cannot stop the stream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from faust.serializers import codecs

from schemas.catalog import REGISTRY
from schemas.envelope import Envelope
from schemas.registry import EventDecodeError

CODEC_NAME = "opsledger-envelope"


@dataclass(frozen=True)
class DecodeFailure:
    raw: bytes
    error: str


def decode(s: bytes) -> Envelope | DecodeFailure:
    try:
        return REGISTRY.decode(s)
    except EventDecodeError as e:
        return DecodeFailure(s, str(e))


class EnvelopeCodec(codecs.Codec):
    def _dumps(self, obj: Any) -> bytes:
        if isinstance(obj, Envelope):
            return REGISTRY.encode(obj)
        if isinstance(obj, bytes | bytearray):
            return bytes(obj)
        raise TypeError(f"cannot encode {type(obj).__name__} as an event")

    def _loads(self, s: bytes) -> Envelope | DecodeFailure:
        return decode(s)


class OnlyCodec(codecs.Codec):
    """Decodes only envelopes of the named types; any other record (a malformed one too: its topic's projection
    dead-letters it) becomes None after a plain JSON parse, without the schema's validation. For an agent that
    reads a busy topic for a few rare types (root cause reads every interface rate for DeviceStatusChanged)."""

    def __init__(self, types: frozenset[str]) -> None:
        super().__init__()
        self.types = types

    def _dumps(self, obj: Any) -> bytes:
        raise TypeError("a reading codec: send with the envelope codec")

    def _loads(self, s: bytes) -> Envelope | DecodeFailure | None:
        try:
            head = orjson.loads(s)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(head, dict) or head.get("type") not in self.types:
            return None
        return decode(s)


def only_codec(name: str, types: frozenset[str]) -> str:
    """Register (once) a codec decoding only these event types; returns its name for a topic's value_serializer."""
    codec_name = f"{CODEC_NAME}:{name}"
    codecs.register(codec_name, OnlyCodec(types))
    return codec_name


codecs.register(CODEC_NAME, EnvelopeCodec())
