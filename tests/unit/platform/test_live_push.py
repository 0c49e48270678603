"""The live-push fan-out and filters without a database: backpressure, filtering, authorisation per topic."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import pytest

from api.identity.principal import Principal
from api.live import Hub, Pushed
from api.live_filters import authorised_filter
from api.problems import Problem


def pushed(seq: int, topic: str = "alerts.events", type_: str = "AlertRaised", subject: str = "s") -> Pushed:
    envelope = orjson.dumps({"type": type_, "subject": subject}).decode()
    return Pushed.from_row((seq, topic, 0, seq, type_, subject, envelope))


def user(role: str) -> Principal:
    return Principal("user", uuid.uuid4(), role, role, frozenset())


def key(*scopes: str) -> Principal:
    return Principal("key", uuid.uuid4(), "k", None, frozenset(scopes))


def hub(capacity: int) -> Hub:
    made = Hub("postgresql://unused", pool=None, capacity=capacity, max_clients=10)  # type: ignore[arg-type]
    made.last_seq = 0
    return made


def test_a_slow_subscriber_is_dropped_and_the_others_keep_everything() -> None:
    async def scenario() -> None:
        fan_out = hub(capacity=3)
        slow, _ = fan_out.subscribe(lambda item: True)
        fast, _ = fan_out.subscribe(lambda item: True)
        for seq in range(1, 6):
            fan_out.publish([pushed(seq)])
            await fast.queue.get()  # the fast one keeps up
        assert slow.overflowed and slow not in fan_out.subscriptions
        assert [slow.queue.get_nowait().seq for _ in range(3)] == [1, 2, 3]  # contiguous: resume from 3 loses nothing
        assert fast in fan_out.subscriptions and not fast.overflowed and fan_out.last_seq == 5

    asyncio.run(scenario())


def test_the_message_is_the_envelope_with_where_it_came_from() -> None:
    message: dict[str, Any] = orjson.loads(pushed(7, subject="CYL-1").message)
    assert message["seq"] == 7 and message["topic"] == "alerts.events" and message["subject"] == "CYL-1"
    assert message["event"] == {"type": "AlertRaised", "subject": "CYL-1"} and message["consistency_token"]


def test_a_viewer_streams_alerts_and_cylinders_by_default_but_never_audit() -> None:
    wanted = authorised_filter(user("viewer"), None, None, None)
    assert {"alerts.events", "cylinders.events", "devices.rates"} <= wanted.topics
    assert "audit" not in wanted.topics and "alerts.rules" not in wanted.topics
    assert not wanted.accepts(pushed(1, topic="audit", type_="AuditRecorded"))
    assert not wanted.accepts(pushed(2, topic="devices.samples", type_="DeviceDiscovered"))  # admin's
    with pytest.raises(Problem) as refused:
        authorised_filter(user("viewer"), ["audit"], None, None)
    assert refused.value.status == 403


def test_a_key_needs_the_read_scope_of_each_topic() -> None:
    assert authorised_filter(key("alerts:read"), None, None, None).topics == {"alerts.events", "alerts.commands"}
    for scopes, topics in ((("alerts:read",), ["cylinders.events"]), (("ingress:write",), None)):
        with pytest.raises(Problem) as refused:
            authorised_filter(key(*scopes), topics, None, None)
        assert refused.value.status == 403


def test_filters_by_subject_and_type() -> None:
    wanted = authorised_filter(user("admin"), ["alerts.events"], ["a"], ["AlertRaised"])
    assert wanted.accepts(pushed(1, subject="a"))
    assert not wanted.accepts(pushed(2, subject="b"))
    assert not wanted.accepts(pushed(3, subject="a", type_="AlertResolved"))
    assert wanted.params == [["alerts.events"], ["AlertRaised"], ["a"]]
