"""The one async producer: acks=all, retries, batching, keyed by subject so an aggregate's events stay in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka.errors import KafkaError

from infra import kafka_clients
from schemas.catalog import REGISTRY
from schemas.envelope import Envelope

log = structlog.get_logger(__name__)


class ProduceError(RuntimeError):
    """The broker did not accept an event (after the producer's own retries)."""


@dataclass(frozen=True)
class Position:
    """Where an event landed: enough to wait for a projection to have applied it."""

    topic: str
    partition: int
    offset: int


class EventProducer:
    def __init__(self, bootstrap: str, *, idempotence: bool = False, linger_ms: int = 5,
                 client_id: str = "opsledger", on_produced: Callable[[str], None] | None = None) -> None:
        self._options: dict[str, Any] = {
            "client_id": client_id,
            "acks": "all",
            "enable_idempotence": idempotence,
            "linger_ms": linger_ms,
            "max_batch_size": 256 * 1024,
            "request_timeout_ms": 15_000,
            "retry_backoff_ms": 100,
        }
        self._bootstrap = bootstrap
        self._producer = kafka_clients.producer(bootstrap, **self._options)
        self._on_produced = on_produced
        self.started = False

    async def start(self) -> None:
        await self._producer.start()
        self.started = True

    async def stop(self) -> None:
        await self._producer.stop()

    async def abandon(self) -> None:
        """Drop whatever is in flight, and the connections, without the flush aiokafka's stop() waits for (a dead
        broker never answers it): nothing sent before this call can reach a broker after it. Start again to send."""
        dropped, self.started = self._producer, False
        self._producer = kafka_clients.producer(self._bootstrap, **self._options)
        dropped._closed = True  # noqa: SLF001 - aiokafka has no public way to close without flushing
        if dropped._sender is not None:  # noqa: SLF001
            await dropped._sender.close()  # noqa: SLF001 - cancels the sender task; pending sends fail
        await dropped.client.close()

    async def emit(self, event: Envelope) -> Position:
        return (await self.emit_many([event]))[0]

    async def emit_many(self, events: Sequence[Envelope]) -> list[Position]:
        """Send a batch; every event is acknowledged by the broker when this returns."""
        try:
            futures = [await self.send_raw(REGISTRY.topic_of(e), REGISTRY.encode(e), e.subject) for e in events]
            results = await asyncio.gather(*futures)
        except KafkaError as err:
            log.error("produce.failed", error=str(err), events=len(events))
            raise ProduceError(str(err)) from err
        if self._on_produced:
            for event in events:
                self._on_produced(REGISTRY.topic_of(event))
        return [Position(m.topic, m.partition, m.offset) for m in results]

    def counted(self, topics: Sequence[str]) -> None:
        """Tell the metrics about records produced through send_raw (the outbox relay's path)."""
        if self._on_produced:
            for topic in topics:
                self._on_produced(topic)

    async def send_raw(self, topic: str, value: bytes | None, key: str | bytes | None, *,
                       partition: int | None = None, timestamp_ms: int | None = None,
                       headers: list[tuple[str, bytes]] | None = None) -> asyncio.Future[Any]:
        """Queue one record; await the returned future for its metadata."""
        kb = key.encode() if isinstance(key, str) else key
        return await self._producer.send(topic, value, key=kb, partition=partition,
                                         timestamp_ms=timestamp_ms, headers=headers)

