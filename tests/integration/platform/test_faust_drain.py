"""At-least-once through the eager drain (processors/faust_drain.py) with the processors' production levers
(eager drain, uvloop): the real processors on a broker of their own, SIGKILLed mid-stream at least twice (and again
until a kill lands between a verdict and its commit) while every reading of a burst breaches its limit (one
IngressLimitExceeded each, caused by it).

At each kill: every reading below the group's committed offset already has its verdict (offsets are committed only
after processing). After the restarts: every reading has its verdict, and the ones processed but not committed
when the process died were processed again (a crash mid-batch redelivers)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from infra.kafka import end_offsets, group_lag
from infra.producer import EventProducer
from infra.settings import Settings
from producers.ingress.commands import submit_reading
from schemas.catalog import REGISTRY
from schemas.topics import INGRESS_EVALUATIONS, INGRESS_READINGS
from tests.helpers.factories import reading
from tests.helpers.support import Backbone, Component, own_broker, wait_until

READINGS = 6000
MAX_KILLS = 6  # at most 6 × READINGS/8 verdicts before the last kill, duplicates included
GROUP = Settings.model_validate({}).processor_id


@pytest.fixture()
def isolated(backbone: Backbone, tmp_path: Path) -> Iterator[Backbone]:
    """A broker of the drill's own (the shared stack's processors stay out of it); the shared database."""
    with own_broker(backbone.database_url, tmp_path) as own:
        yield own


async def produce(bootstrap: str) -> dict[tuple[int, int], uuid.UUID]:
    """READINGS readings far above every limit line; (partition, offset) -> event id."""
    producer = EventProducer(bootstrap, linger_ms=5)
    await producer.start()
    try:
        found = {}
        for _ in range(0, READINGS, 500):
            events = [submit_reading(reading(node_id=f"N-DRAIN-{i % 17}", level_dbmv=40.0), actor="drill",
                                     correlation_id=None) for i in range(500)]
            for event, at in zip(events, await producer.emit_many(events), strict=True):
                found[(at.partition, at.offset)] = event.event_id
        return found
    finally:
        await producer.stop()


async def verdicts(bootstrap: str) -> Counter[uuid.UUID]:
    """How many IngressLimitExceeded each reading caused, over the whole topic."""
    ends = await end_offsets(bootstrap, [INGRESS_EVALUATIONS])
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(ends))
        await consumer.seek_to_beginning(*ends)
        causes: Counter[uuid.UUID] = Counter()
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    event = REGISTRY.decode(record.value)
                    assert event.causation_id is not None
                    causes[event.causation_id] += 1
        return causes
    finally:
        await consumer.stop()


def verdicts_out(bootstrap: str) -> int:
    return sum(asyncio.run(end_offsets(bootstrap, [INGRESS_EVALUATIONS])).values())


async def committed(bootstrap: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=GROUP, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await end_offsets(bootstrap, [INGRESS_READINGS])
        return {tp.partition: (await consumer.committed(TopicPartition(tp.topic, tp.partition))) or 0
                for tp in partitions}
    finally:
        await consumer.stop()


def test_a_killed_processor_redelivers_exactly_what_it_had_not_committed(isolated: Backbone, tmp_path: Path) -> None:
    bootstrap = isolated.bootstrap
    inputs = asyncio.run(produce(bootstrap))
    assert len(inputs) == READINGS
    processors = Component("processors", ["processors"], isolated.env(tmp_path), tmp_path / "processors.log")
    in_flight: set[uuid.UUID] = set()  # processed (verdict out) but not committed when the process died
    kills = 0
    # A kill can land just after a commit that covered every verdict out (a fetch batch processed and committed, the
    # next not yet fetched): that kill proves nothing about redelivery, so kill again, a step further on, until one
    # lands mid-batch. Each step is an eighth of the burst, so the cap leaves readings to spare.
    while kills < 2 or (not in_flight and kills < MAX_KILLS):
        processors.start()
        target = verdicts_out(bootstrap) + READINGS // 8
        wait_until(lambda t=target: verdicts_out(bootstrap) >= t,  # type: ignore[misc]
                   timeout=300, interval=0.05, what=f"{READINGS // 8} more verdicts")
        processors.kill()
        kills += 1
        done, upto = asyncio.run(verdicts(bootstrap)), asyncio.run(committed(bootstrap))
        assert sum(upto.values()) < READINGS, "everything was committed before the kill: nothing was mid-batch"
        missing = [(p, o) for (p, o), event_id in inputs.items() if o < upto[p] and event_id not in done]
        assert not missing, f"committed past readings without a verdict: {missing[:5]}"
        in_flight |= {event_id for (p, o), event_id in inputs.items() if o >= upto[p] and event_id in done}
    assert "faust.eager_drain.installed" in processors.log()
    assert in_flight, f"none of {kills} kills landed between a verdict and its commit: the drill proved nothing"

    processors.start()
    try:
        wait_until(lambda: asyncio.run(group_lag(bootstrap, GROUP, [INGRESS_READINGS])) == 0, timeout=300,
                   interval=0.2, what="the processors to commit every reading")
    finally:
        processors.stop()
    final = asyncio.run(verdicts(bootstrap))
    assert set(final) == set(inputs.values())  # every reading judged, nothing else
    assert all(final[event_id] >= 2 for event_id in in_flight)  # processed again after the crash
    assert asyncio.run(committed(bootstrap)) == {tp.partition: end for tp, end in
                                                 asyncio.run(end_offsets(bootstrap, [INGRESS_READINGS])).items()}
