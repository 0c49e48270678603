"""`opsledger events tail`: print a topic's records as JSON lines."""

from __future__ import annotations

import sys

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from infra.topics import partitions_of


async def tail(bootstrap: str, topic: str, *, from_beginning: bool, limit: int = 0) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    printed = 0
    try:
        partitions = [TopicPartition(topic, p) for p in await partitions_of(consumer, topic)]
        consumer.assign(partitions)
        if from_beginning:
            await consumer.seek_to_beginning(*partitions)
        else:
            await consumer.seek_to_end(*partitions)
        async for msg in consumer:
            try:
                body = orjson.loads(msg.value) if msg.value else None
            except orjson.JSONDecodeError:
                body = {"raw": (msg.value or b"").decode("utf-8", "replace")}
            line = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset, "value": body}
            if msg.headers:
                line["headers"] = {k: v.decode("utf-8", "replace") for k, v in msg.headers}
            sys.stdout.write(orjson.dumps(line).decode() + "\n")
            sys.stdout.flush()
            printed += 1
            if limit and printed >= limit:
                return
    finally:
        await consumer.stop()
