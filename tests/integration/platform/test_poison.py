"""Poison: malformed bytes and unknown events go to the dead-letter topic with their original bytes, the error
and the consumer's name; the events after them still apply."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from infra.kafka import partitions_of
from producers.ingress.commands import submit_reading
from schemas.catalog import REGISTRY
from schemas.topics import DEADLETTER, INGRESS_READINGS
from tests.helpers.factories import reading
from tests.helpers.support import Stack, wait_until


async def send_poison(bootstrap: str, key: bytes, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(INGRESS_READINGS, value, key=key)
    finally:
        await producer.stop()


async def deadletters_for(bootstrap: str, key: bytes) -> list[tuple[bytes, dict[str, str]]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(DEADLETTER, p) for p in await partitions_of(consumer, DEADLETTER)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        found = []
        while batch := await consumer.getmany(timeout_ms=300):
            for messages in batch.values():
                found += [(m.value, {k: v.decode() for k, v in m.headers}) for m in messages if m.key == key]
        return found
    finally:
        await consumer.stop()


def test_malformed_events_are_deadlettered_and_the_stream_goes_on(stack: Stack, api: httpx.Client) -> None:
    key = f"poison-{uuid.uuid4()}".encode()
    garbage = b"\x00\xffnot json at all" + key
    unknown = orjson.dumps({"type": "NoSuchEvent", "subject": key.decode(), "data": {}})
    invalid = orjson.dumps({**orjson.loads(REGISTRY.encode(submit_reading(reading(), actor=None,
                                                                           correlation_id=None))),
                            "data": {"reading_id": "nope"}})
    nul = REGISTRY.encode(submit_reading(reading(), actor=None, correlation_id=None)).replace(
        b'"customer_name":"', b'"customer_name":"\\u0000')  # valid JSON, but Postgres text cannot hold NUL
    asyncio.run(send_poison(stack.backbone.bootstrap, key, [garbage, unknown, invalid, nul]))
    after = api.post("/api/ingress", params={"wait": "true"}, json={**reading().model_dump(mode="json")})
    assert after.status_code == 201, after.text

    def both_consumers_parked_all_three() -> list[tuple[bytes, dict[str, str]]] | None:
        found = asyncio.run(deadletters_for(stack.backbone.bootstrap, key))
        consumers = {h["opsledger.dlq.consumer"] for _, h in found}
        return found if len(found) >= 8 and len(consumers) >= 2 else None

    found = wait_until(both_consumers_parked_all_three, timeout=30, what="dead letters from projection and processor")
    by_consumer: dict[str, list[bytes]] = {}
    for value, headers in found:
        by_consumer.setdefault(headers["opsledger.dlq.consumer"], []).append(value)
        assert headers["opsledger.dlq.topic"] == INGRESS_READINGS
        assert int(headers["opsledger.dlq.offset"]) >= 0
        assert headers["opsledger.dlq.error"]
    assert set(by_consumer) == {"projection:ingress", "processor:processors.ingress"}
    for values in by_consumer.values():
        assert sorted(values) == sorted([garbage, unknown, invalid, nul])  # the original bytes, each once

    metrics = api.get("/metrics").text
    assert any(line.startswith("opsledger_deadlettered ") and float(line.split()[1]) >= 8
               for line in metrics.splitlines())
