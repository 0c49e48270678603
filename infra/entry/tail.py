"""`opsledger events tail`: print a topic's records as JSON lines."""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator
from typing import Any

import orjson
from aiokafka import TopicPartition

from infra import kafka_clients
from infra.kafka import partitions_of


async def records(bootstrap: str, topic: str, *, from_beginning: bool, limit: int = 0) -> AsyncGenerator[Any, None]:
    """Every record of `topic` (from its start, or only new ones) as it arrives; stops after `limit` when set."""
    consumer = kafka_clients.consumer(bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    seen = 0
    try:
        partitions = [TopicPartition(topic, p) for p in await partitions_of(consumer, topic)]
        consumer.assign(partitions)
        if from_beginning:
            await consumer.seek_to_beginning(*partitions)
        else:
            await consumer.seek_to_end(*partitions)
        async for msg in consumer:
            yield msg
            seen += 1
            if limit and seen >= limit:
                return
    finally:
        await consumer.stop()


def print_line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def tail(bootstrap: str, topic: str, *, from_beginning: bool, limit: int = 0) -> None:
    async for msg in records(bootstrap, topic, from_beginning=from_beginning, limit=limit):
        try:
            body = orjson.loads(msg.value) if msg.value else None
        except orjson.JSONDecodeError:
            body = {"raw": (msg.value or b"").decode("utf-8", "replace")}
        line = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset, "value": body}
        if msg.headers:
            line["headers"] = {k: v.decode("utf-8", "replace") for k, v in msg.headers}
        print_line(orjson.dumps(line).decode())
