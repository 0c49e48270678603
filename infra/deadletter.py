"""Dead-lettering: the original bytes go on, the error and the consumer ride in headers (Kafka Connect style)."""

from __future__ import annotations

from typing import Protocol

import structlog

from schemas.topics import DEADLETTER

log = structlog.get_logger(__name__)

H_CONSUMER = "opsledger.dlq.consumer"
H_ERROR = "opsledger.dlq.error"
H_TOPIC = "opsledger.dlq.topic"
H_PARTITION = "opsledger.dlq.partition"
H_OFFSET = "opsledger.dlq.offset"
H_ATTEMPTS = "opsledger.dlq.attempts"


class RawSender(Protocol):
    async def send_raw(self, topic: str, value: bytes | None, key: str | bytes | None, *,
                       partition: int | None = None, timestamp_ms: int | None = None,
                       headers: list[tuple[str, bytes]] | None = None) -> object: ...


def deadletter_headers(consumer: str, error: str, topic: str, partition: int, offset: int,
                       attempts: int = 1) -> list[tuple[str, bytes]]:
    return [
        (H_CONSUMER, consumer.encode()),
        (H_ERROR, error[:2000].encode()),
        (H_TOPIC, topic.encode()),
        (H_PARTITION, str(partition).encode()),
        (H_OFFSET, str(offset).encode()),
        (H_ATTEMPTS, str(attempts).encode()),
    ]


async def send_to_deadletter(sender: RawSender, *, consumer: str, error: str, topic: str, partition: int,
                             offset: int, key: bytes | None, value: bytes | None) -> None:
    log.warning("event.deadlettered", consumer=consumer, topic=topic, partition=partition, offset=offset,
                error=error[:300])
    fut = await sender.send_raw(DEADLETTER, value, key,
                                headers=deadletter_headers(consumer, error, topic, partition, offset))
    await fut  # type: ignore[misc]
