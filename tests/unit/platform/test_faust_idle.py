"""processors.faust_idle: an idle batching agent no longer wakes every `within` seconds, a batch still closes
`within` after its first event or when full, and every event of a batch is acked after the batch was consumed.
Driven through the copy (and Faust's original, to show the difference) with a stand-in for the stream: what
`take_events` reads of it. The pipeline, drain and kill drills drive it against a real broker."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from faust.streams import Stream
from faust.transport.consumer import Consumer

from processors import faust_idle
from processors.faust_patches import REPLACED, use_quiet_idle

WITHIN = 0.05


class Channel:
    """An async-iterable channel: take_events only hands its iterator to the passive drainer (stood in below)."""

    def __aiter__(self) -> Channel:
        return self

    async def __anext__(self) -> Any:
        raise StopAsyncIteration


class Stand:
    """What take_events reads of a Faust stream. `timed_waits` counts the waits with a timeout (the wake-ups)."""

    def __init__(self) -> None:
        self.enable_acks, self.should_stop = True, False
        self.channel = Channel()
        self.current_event: Any = None
        self.acked: list[Any] = []
        self.timed_waits = 0
        self._processors: list[Callable[[Any], Awaitable[Any]]] = []
        self._active_agens: weakref.WeakSet[Any] = weakref.WeakSet()
        self.loop = asyncio.get_running_loop()
        self.log = type("L", (), {"exception": lambda *a: None})()

    def add_processor(self, processor: Callable[[Any], Awaitable[Any]]) -> None:
        self._processors.append(processor)

    def _enable_passive(self, channel: Any) -> None:
        pass

    async def wait(self, event: asyncio.Event) -> None:
        await event.wait()

    async def wait_for_stopped(self, event: asyncio.Event, timeout: float | None = None) -> bool:
        if timeout is not None:
            self.timed_waits += 1
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        return self.should_stop

    async def ack(self, event: Any) -> None:
        self.acked.append(event)

    async def crash(self, exc: BaseException) -> None:
        raise AssertionError(f"take_events crashed: {exc!r}")

    async def deliver(self, value: Any) -> None:
        """What Faust's passive drainer does for each event: make it current, run the stream's processors."""
        self.current_event = value
        for processor in self._processors:
            await processor(value)


async def collect(take: Any, stand: Stand, max_: int, into: list[tuple[float, list[Any]]]) -> None:
    async for batch in take(stand, max_, WITHIN):
        into.append((asyncio.get_running_loop().time(), list(batch)))


async def test_an_idle_agent_is_not_woken() -> None:
    faust_own = REPLACED.get((Stream, "take_events"), Stream.take_events)
    assert faust_own is not faust_idle.take_events
    for take, woken in ((faust_own, True), (faust_idle.take_events, False)):
        stand = Stand()
        batches: list[tuple[float, list[Any]]] = []
        task = asyncio.ensure_future(collect(take, stand, 10, batches))
        await asyncio.sleep(0.5)  # ten `within`s, nothing delivered
        assert not task.done(), task
        assert (stand.timed_waits >= 5) is woken, (take, stand.timed_waits)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_batch_closes_within_after_its_first_event_or_when_full() -> None:
    stand = Stand()
    batches: list[tuple[float, list[Any]]] = []
    task = asyncio.ensure_future(collect(faust_idle.take_events, stand, 3, batches))
    await asyncio.sleep(0.2)  # idle first
    assert not task.done(), task
    loop = asyncio.get_running_loop()
    first = loop.time()
    await stand.deliver("a")
    while not batches:
        await asyncio.sleep(0.002)
    closed, batch = batches[0]
    assert batch == ["a"]
    assert WITHIN * 0.9 <= closed - first < WITHIN + 0.1  # a linger of `within` from the first event
    assert stand.acked == ["a"]  # acked once the batch was consumed

    full = loop.time()
    for value in ("b", "c", "d"):
        await stand.deliver(value)  # the third fills it: yielded at once, the fourth waits for the next batch
    while len(batches) < 2:
        await asyncio.sleep(0.002)
    assert batches[1][1] == ["b", "c", "d"] and batches[1][0] - full < WITHIN
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert stand.acked == ["a", "b", "c", "d"]


async def test_the_livelock_check_yields_once_not_per_partition() -> None:
    checked: list[int] = []

    class Owner:
        should_stop = False
        sleeps = 0

        def assignment(self) -> list[int]:
            return list(range(100))

        async def sleep(self, seconds: float) -> None:
            self.sleeps += 1

        def verify_event_path(self, now: float, tp: int) -> None:
            checked.append(tp)

    owner = Owner()
    await faust_idle.verify_all_partitions_active(owner)
    assert checked == list(range(100)) and owner.sleeps == 0


def test_installed_only_over_the_methods_it_copies() -> None:
    for name, pinned in faust_idle.ORIGINAL_SHA256.items():
        assert faust_idle.original_fingerprint(name) == pinned
    assert use_quiet_idle() is True
    assert Stream.take_events is faust_idle.take_events
    assert Consumer.verify_all_partitions_active is faust_idle.verify_all_partitions_active


@pytest.fixture(autouse=True)
def _keep_faust() -> Any:
    """The install test replaces Faust's methods for the whole process; put the originals back."""
    saved = Stream.take_events, Consumer.verify_all_partitions_active
    yield
    Stream.take_events, Consumer.verify_all_partitions_active = saved  # type: ignore[method-assign]
    if saved[0] is not faust_idle.take_events:
        REPLACED.pop((Stream, "take_events"), None)
        REPLACED.pop((Consumer, "verify_all_partitions_active"), None)
