"""Thin patches of Faust 0.15.3, each one method, each with the reason it exists (see ARCHITECTURE.md, "Tansu's sharp
edges"). Applied by processors.app.create_app before the app starts."""

from __future__ import annotations

import time
from typing import Any

from infra.kafka import exact_end_offsets


def use_exact_highwaters(bootstrap: str) -> None:
    """Faust's table recovery reads a changelog up to its ListOffsets end, which Tansu reports too low after
    batched writes (the table would come back stale). Use infra.topics.exact_end_offsets instead (also right on
    Apache Kafka). A patch of one Faust driver method; tests/e2e/test_restart.py fails without it."""
    from faust.transport.drivers import aiokafka as driver

    original = driver.AIOKafkaConsumerThread._highwaters

    async def _highwaters(self: Any, partitions: list[Any]) -> Any:
        if self.consumer.in_transaction:
            return await original(self, partitions)
        return await exact_end_offsets(bootstrap, partitions)

    driver.AIOKafkaConsumerThread._highwaters = _highwaters  # type: ignore[method-assign]


def use_fetch_max_wait(ms: int) -> None:
    """Faust hard-codes fetch_max_wait_ms=1500 for its worker consumer. Apache Kafka answers a fetch as soon as data
    arrives, but Tansu holds it for the whole wait: at a low input rate every scan waited ~0.5 s in the processor.
    A short wait costs Apache Kafka only idle fetches."""
    from faust.transport.drivers import aiokafka as driver

    original = driver.AIOKafkaConsumerThread._create_worker_consumer

    def _create_worker_consumer(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = ms  # read by consumer.start() when it builds its fetcher
        return consumer

    driver.AIOKafkaConsumerThread._create_worker_consumer = _create_worker_consumer  # type: ignore[method-assign]


def pace_fetches(app: Any, busy_ms: int, idle_ms: int, quiet_after_s: float = 2.0) -> None:
    """infra.kafka.FetchPacing for Faust's own consumer: a short fetch wait while messages come, a long one once
    none came for `quiet_after_s` (an idle stack's processors asked the broker fifty times a second for nothing).
    Checked twice a second from the messages Faust's monitor counted; the wait is read by aiokafka for every fetch
    request it builds."""
    seen = {"received": -1, "at": time.monotonic()}

    @app.timer(interval=0.5)
    async def pace_fetches() -> None:
        received, now = app.monitor.messages_received_total, time.monotonic()
        if received != seen["received"]:
            seen.update(received=received, at=now)
            wait = busy_ms
        elif now - seen["at"] > quiet_after_s:
            wait = max(busy_ms, idle_ms)
        else:
            return
        consumer = getattr(getattr(app.consumer, "_thread", None), "_consumer", None)
        fetcher = getattr(consumer, "_fetcher", None)
        if fetcher is not None:
            fetcher._fetch_max_wait_ms = wait
