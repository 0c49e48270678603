"""processors.faust_drain: the drain loop runs the conductor callback in place and falls back to Faust's own
wait_first(callback, suspend_flow.wait()) only when the callback suspends or flow is suspended; installed by
processors.faust_patches.use_eager_drain over the one Faust it was copied from."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from faust.transport.consumer import Consumer
from mode import Service
from structlog.testing import capture_logs

from processors import faust_drain
from processors.faust_patches import use_eager_drain


class Owner(Service):
    """Stands in for the Faust consumer: deliver() only needs its wait_first (mode.Service's)."""


def count_tasks(loop: asyncio.AbstractEventLoop) -> list[int]:
    created = [0]

    def factory(lp: Any, coro: Any, **kw: Any) -> asyncio.Task[Any]:
        created[0] += 1
        return asyncio.Task(coro, loop=lp, **kw)

    loop.set_task_factory(factory)
    return created


async def test_a_callback_that_does_not_suspend_runs_in_place_without_tasks() -> None:
    loop = asyncio.get_running_loop()
    owner, suspend, seen = Owner(), asyncio.Event(), []

    async def callback(message: int) -> None:
        lock = asyncio.Lock()
        async with lock:  # an uncontended lock, as in the conductor, does not suspend
            seen.append(message)

    before = dict(faust_drain.STATS)
    created = count_tasks(loop)
    try:
        for i in range(100):
            await faust_drain.deliver(owner, callback(i), suspend)
    finally:
        loop.set_task_factory(None)
    assert seen == list(range(100))
    assert created[0] == 0
    assert faust_drain.STATS == before


async def test_a_callback_that_suspends_is_finished_by_a_task_from_where_it_stopped() -> None:
    owner, suspend = Owner(), asyncio.Event()
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    steps: list[str] = []

    async def callback() -> None:
        steps.append("before")
        steps.append(await gate)  # suspends on a future: the rest must run once, in order, after the gate opens
        await asyncio.sleep(0)  # and a bare yield
        steps.append("after")

    asyncio.get_running_loop().call_later(0.01, gate.set_result, "gate")
    waited = faust_drain.STATS["waited"]
    await faust_drain.deliver(owner, callback(), suspend)
    assert steps == ["before", "gate", "after"]
    assert faust_drain.STATS["waited"] == waited + 1


async def test_a_blocked_callback_is_cancelled_when_flow_is_suspended() -> None:
    """What suspend_flow is for: a rebalance must not wait behind a callback blocked on flow control or a full
    buffer. Faust cancels it (the message is not delivered, not acked, so its offset is not committed)."""
    owner, suspend, never = Owner(), asyncio.Event(), asyncio.Event()
    outcome: list[str] = []

    async def callback() -> None:
        try:
            await never.wait()
            outcome.append("delivered")
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    asyncio.get_running_loop().call_later(0.01, suspend.set)
    abandoned = faust_drain.STATS["abandoned"]
    await asyncio.wait_for(faust_drain.deliver(owner, callback(), suspend), 2)
    await asyncio.sleep(0)
    assert outcome == ["cancelled"]
    assert faust_drain.STATS["abandoned"] == abandoned + 1


async def test_errors_propagate_whether_raised_at_once_or_after_suspending() -> None:
    owner, suspend = Owner(), asyncio.Event()

    async def at_once() -> None:
        raise KeyError("tp")

    async def later() -> None:
        await asyncio.sleep(0.001)
        raise ValueError("decode")

    with pytest.raises(KeyError):
        await faust_drain.deliver(owner, at_once(), suspend)
    with pytest.raises(ValueError):
        await faust_drain.deliver(owner, later(), suspend)


async def test_cancelling_the_drain_loop_cancels_a_suspended_callback() -> None:
    owner, suspend = Owner(), asyncio.Event()
    outcome: list[str] = []

    async def callback() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    task = asyncio.ensure_future(faust_drain.deliver(owner, callback(), suspend))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert outcome == ["cancelled"]


def test_the_patch_goes_over_the_installed_faust(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Consumer.__dict__["_drain_messages"]
    monkeypatch.setattr(Consumer, "_drain_messages", original)  # restored after the test
    assert faust_drain.original_fingerprint() == faust_drain.ORIGINAL_SHA256, "Faust changed: re-copy the loop"
    assert use_eager_drain() is True
    assert Consumer._drain_messages is faust_drain._drain_messages
    assert use_eager_drain() is True  # idempotent


def test_another_faust_is_left_alone_and_said_so(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Consumer.__dict__["_drain_messages"]
    monkeypatch.setattr(Consumer, "_drain_messages", original)
    monkeypatch.setattr(faust_drain, "ORIGINAL_SHA256", "0" * 64)  # as if the installed method were different
    with capture_logs() as logs:
        assert use_eager_drain() is False
    assert Consumer.__dict__["_drain_messages"] is original
    assert [(e["event"], e["log_level"]) for e in logs] == [("faust.eager_drain.refused", "error")]


def test_a_jump_above_a_read_offset_a_seek_sent_back_is_sought_again_not_acked_as_a_gap() -> None:
    rewinds = faust_drain.Rewinds()
    for offset in range(884, 1003):
        rewinds.delivered("p", offset, generation=2)
    assert not rewinds.seek_back("p", 1002, generation=2)  # read offset where delivery left it: a real gap
    assert rewinds.seek_back("p", 884, generation=2)  # perform_seek sent it back to the committed 884
    assert not rewinds.seek_back("p", 884, generation=2)  # the same jump right after seeking there: a real gap
    rewinds.delivered("p", 884, generation=2)  # fetched again from 884
    assert rewinds.seek_back("p", 884, generation=2)  # a later seek back there is sought again


def test_a_new_generation_starts_afresh() -> None:
    rewinds = faust_drain.Rewinds()
    rewinds.delivered("p", 900, generation=1)
    assert not rewinds.seek_back("p", 476, generation=2)  # reassigned: another member may have moved it
    assert not rewinds.seek_back("q", 476, generation=1)  # nothing delivered from q
