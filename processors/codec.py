"""Pydantic envelopes through a Faust codec. Decoding never raises: a bad message becomes a DecodeFailure
that the agent dead-letters, so one poison message cannot stop the stream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faust.serializers import codecs

from schemas.catalog import REGISTRY
from schemas.envelope import Envelope
from schemas.registry import EventDecodeError

CODEC_NAME = "opsledger-envelope"


@dataclass(frozen=True)
class DecodeFailure:
    raw: bytes
    error: str


class EnvelopeCodec(codecs.Codec):
    def _dumps(self, obj: Any) -> bytes:
        if isinstance(obj, Envelope):
            return REGISTRY.encode(obj)
        if isinstance(obj, bytes | bytearray):
            return bytes(obj)
        raise TypeError(f"cannot encode {type(obj).__name__} as an event")

    def _loads(self, s: bytes) -> Envelope | DecodeFailure:
        try:
            return REGISTRY.decode(s)
        except EventDecodeError as e:
            return DecodeFailure(s, str(e))


codecs.register(CODEC_NAME, EnvelopeCodec())
