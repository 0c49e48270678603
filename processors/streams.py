"""What every agent does with a record it cannot use: the codec never raises (a bad record arrives as a
DecodeFailure), and the agent sends the original bytes to the dead-letter topic with why, then carries on."""

from __future__ import annotations

from typing import Any

import structlog

from infra.deadletter import deadletter_headers
from processors.codec import DecodeFailure
from schemas.catalog import REGISTRY
from schemas.envelope import Envelope, Payload

log = structlog.get_logger(__name__)


def refused(value: Envelope | DecodeFailure, *wanted: type[Payload]) -> tuple[bytes, str] | None:
    """(original bytes, error) when the record is not an event, or not one of the `wanted` payload types (when
    given); None when the agent can use it."""
    if isinstance(value, DecodeFailure):
        return value.raw, value.error
    if wanted and not isinstance(value.data, wanted):
        return REGISTRY.encode(value), f"not a {' or '.join(w.__name__ for w in wanted)}: {value.type}"
    return None


async def dead_letter(deadletter: Any, event: Any, source: str, raw: bytes, error: str) -> None:
    """Send a stream event's record to the dead-letter topic (key kept, Kafka Connect's headers)."""
    message = event.message
    log.warning("event.deadlettered", consumer=f"processor:{source}", topic=message.topic,
                partition=message.partition, offset=message.offset, error=error[:300])
    await deadletter.send(key=event.key, value=raw, headers=deadletter_headers(
        f"processor:{source}", error, message.topic, message.partition, message.offset))


def written_ms(*events: Any) -> float:
    """When the latest of these stream events was written (their records' timestamps; Faust gives seconds)."""
    return max(event.message.timestamp for event in events) * 1000
