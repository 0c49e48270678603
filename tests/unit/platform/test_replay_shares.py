"""Which partitions each replay worker rebuilds: only a partition-local projection is shared out, and only when
every topic has the same partition numbers (a key's records are then under one number in each topic)."""

from __future__ import annotations

from aiokafka import TopicPartition

from projections.alerts.projection import AlertsProjection
from projections.ingress.projection import IngressProjection
from projections.replay import shares_of
from schemas.topics import INGRESS_EVALUATIONS, INGRESS_READINGS


def ends(partitions: dict[str, int]) -> dict[TopicPartition, int]:
    return {TopicPartition(topic, p): 10 for topic, count in partitions.items() for p in range(count)}


def test_a_partition_local_projection_is_shared_out_by_partition_number() -> None:
    shares = shares_of(IngressProjection(), ends({INGRESS_READINGS: 4, INGRESS_EVALUATIONS: 4}), workers=2)
    assert shares == [frozenset({0, 2}), frozenset({1, 3})]
    assert shares_of(IngressProjection(), ends({INGRESS_READINGS: 2, INGRESS_EVALUATIONS: 2}), workers=8) == [
        frozenset({0}), frozenset({1})]  # no more workers than partitions


def test_one_share_when_the_fold_is_not_partition_local_or_the_topics_differ() -> None:
    topics = AlertsProjection().topics
    assert shares_of(AlertsProjection(), ends(dict.fromkeys(topics, 4)), workers=2) == [frozenset(range(4))]
    assert shares_of(IngressProjection(), ends({INGRESS_READINGS: 4, INGRESS_EVALUATIONS: 2}), workers=2) == [
        frozenset(range(4))]
    assert shares_of(IngressProjection(), ends({INGRESS_READINGS: 4, INGRESS_EVALUATIONS: 4}), workers=1) == [
        frozenset(range(4))]
