"""Fresh topics on the real broker, written batch by batch (for tests of consumers)."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka.admin import NewTopic

from infra import kafka_clients


async def topic_with(bootstrap: str, partitions: int, batches: list[list[bytes]], prefix: str = "gate") -> str:
    """A fresh topic with these batches in partition 0 (each list is sent as one batch)."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    admin = kafka_clients.admin(bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()
    for batch in batches:
        await write(bootstrap, name, batch)
    return name


async def write(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = kafka_clients.producer(bootstrap, linger_ms=50)
    await producer.start()
    try:
        sent = [await producer.send(topic, value, partition=0) for value in values]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
