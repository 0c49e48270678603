"""processors.faust_patches.use_direct_producer: once the producer has started, a topic gets it without yielding to
the event loop; Faust's own way (mode's stampede around `App.maybe_start_producer`) yields three times per record
sent. A real Faust app and topic; the producer is marked started rather than connected (no broker is needed to hand
it over). The pipeline, kill and restart drills send through the patched path against a real broker."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
import pytest
from faust.topics import Topic

from processors.faust_patches import REPLACED, direct_producer, use_direct_producer


async def loop_turns_while(call: Any, times: int) -> int:
    """How many times another task ran while `call()` was awaited `times` times in a row."""
    turns = 0
    done = False

    async def spin() -> None:
        nonlocal turns
        while not done:
            turns += 1
            await asyncio.sleep(0)

    spinner = asyncio.create_task(spin())
    await asyncio.sleep(0)
    started = turns
    for _ in range(times):
        await call()
    done = True
    await spinner
    return turns - started


@pytest.fixture
def topic() -> Topic:
    app = faust.App("direct-producer-test", broker="kafka://127.0.0.1:1", store="memory://")
    return app.topic("anything")  # type: ignore[return-value]


async def test_a_started_producer_is_handed_over_without_a_turn_of_the_loop(topic: Topic) -> None:
    app = topic.app
    app.producer._started.set()  # type: ignore[attr-defined]
    assert await direct_producer(topic) is app.producer
    assert await loop_turns_while(lambda: direct_producer(topic), 100) == 0


async def test_fausts_own_way_yields_for_every_record(topic: Topic) -> None:
    """The reason for the patch: the same 100 calls, Faust's way, let other tasks run hundreds of times."""
    topic.app.producer._started.set()  # type: ignore[attr-defined]
    original = REPLACED.get((Topic, "_get_producer"), Topic._get_producer)
    assert await loop_turns_while(lambda: original(topic), 100) >= 200


async def test_a_producer_not_started_yet_is_asked_for_as_faust_does(topic: Topic, monkeypatch: pytest.MonkeyPatch
                                                                      ) -> None:
    asked = []

    async def maybe_start_producer() -> str:
        asked.append(1)
        return "started now"

    monkeypatch.setattr(topic.app, "maybe_start_producer", maybe_start_producer)
    assert await direct_producer(topic) == "started now"
    assert asked == [1]


def test_installed_only_over_the_method_it_replaces(monkeypatch: pytest.MonkeyPatch) -> None:
    async def other(self: Any) -> None:
        pass

    monkeypatch.setattr(Topic, "_get_producer", other)
    assert use_direct_producer() is False
    assert Topic._get_producer is other
