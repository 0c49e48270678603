"""infra.kafka.partitions_of against the real broker, in the state that crashed a projections process at start-up:
one fetching consumer serves every projection, and once it is assigned the first projection's partitions, aiokafka
asks the broker only for the assigned topics' metadata and forgets the others. The next projection must still find
its topics' partitions."""

from __future__ import annotations

from aiokafka import TopicPartition

from infra import kafka_clients
from infra.kafka import partitions_of
from tests.helpers.support import Backbone
from tests.helpers.topics import topic_with


async def test_a_consumer_assigned_to_one_topic_still_finds_the_partitions_of_another(backbone: Backbone) -> None:
    first = await topic_with(backbone.bootstrap, 2, [], prefix="meta")
    second = await topic_with(backbone.bootstrap, 3, [], prefix="meta")
    consumer = kafka_clients.consumer(backbone.bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        assert await partitions_of(consumer, first) == [0, 1]
        consumer.assign([TopicPartition(first, p) for p in range(2)])
        await consumer._client.force_metadata_update()  # noqa: SLF001 - any refresh from now on: `first` only
        assert consumer.partitions_for_topic(second) is None  # forgotten: the state the race left

        assert await partitions_of(consumer, second, attempts=5) == [0, 1, 2]
        assert await partitions_of(consumer, first) == [0, 1]
    finally:
        await consumer.stop()
