"""The projections' doorbell rings for the topics the outbox relay produced to (its PostgreSQL notification names
them), so a stream of commands to one topic leaves the projections of every other topic dozing."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import psycopg

from infra.topics import PRODUCED_CHANNEL
from projections.doorbell import Doorbell, listen_for_produced
from tests.helpers.factories import reading_body
from tests.helpers.support import Backbone, Stack

TOPICS = ("ingress.readings", "cylinders.scans", "devices.samples")


async def notify_until_rung(database_url: str, doorbell: Doorbell, payload: str, topic: str) -> None:
    """Send `payload` until `topic` rings (the listener may not be listening yet at first)."""
    before = doorbell.snapshot([topic])
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        for _ in range(200):
            await conn.execute("SELECT pg_notify(%s, %s)", (PRODUCED_CHANNEL, payload))
            if await doorbell.wait(before, timeout_s=0.05):
                return
    raise AssertionError(f"{topic} never rang for {payload!r}")


async def test_only_the_topics_named_ring(backbone: Backbone) -> None:
    doorbell, stop = Doorbell(), asyncio.Event()
    listener = asyncio.create_task(listen_for_produced(backbone.database_url, doorbell, TOPICS, stop))
    try:
        await notify_until_rung(backbone.database_url, doorbell, "cylinders.scans", "cylinders.scans")
        assert doorbell.snapshot(TOPICS)["ingress.readings"] == 0
        assert doorbell.snapshot(TOPICS)["devices.samples"] == 0
        # a topic this process does not read rings nothing; notifications come in order, so once the next one has
        # rung, the first was handled
        start = doorbell.snapshot(TOPICS)
        await notify_until_rung(backbone.database_url, doorbell, "files.stored,devices.samples", "devices.samples")
        after = doorbell.snapshot(TOPICS)
        assert after["ingress.readings"] == start["ingress.readings"] == 0
        assert after["cylinders.scans"] == start["cylinders.scans"]
        # a notification that names nothing (a relay of an older release) rings every topic
        await notify_until_rung(backbone.database_url, doorbell, "", "ingress.readings")
        assert all(count > 0 for count in doorbell.snapshot(TOPICS).values())
    finally:
        stop.set()
        await asyncio.wait_for(listener, timeout=5)


async def test_the_relay_names_the_topic_a_command_went_to(stack: Stack, api: httpx.Client) -> None:
    async with await psycopg.AsyncConnection.connect(stack.backbone.database_url, autocommit=True) as conn:
        await conn.execute(f"LISTEN {PRODUCED_CHANNEL}")
        accepted = await asyncio.to_thread(api.post, "/api/ingress",
                                           json=reading_body(node_id=f"N-BELL-{uuid.uuid4().hex[:8]}"))
        assert accepted.status_code == 202, accepted.text
        payloads = []
        async for notice in conn.notifies(timeout=10):
            payloads.append(notice.payload)
            if "ingress.readings" in notice.payload.split(","):
                break
    named = [payload.split(",") for payload in payloads]
    assert any("ingress.readings" in topics for topics in named), payloads
    assert all(topic for topics in named for topic in topics)  # every notification names its topics
