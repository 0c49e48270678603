"""The in-process rate-limit storage: limits' moving windows, its expiry sweep at most once a second and never in a
worker thread (limits itself sweeps every key after every hit, each through asyncio.to_thread)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from api.identity.limits import Limiter, SweptMemoryStorage, storage_for
from api.problems import Problem


def test_the_private_hook_replaced_still_exists_upstream() -> None:
    # limits calls self.__schedule_expiry() after each hit; were it renamed, the replacement would be dead code
    assert "_MemoryStorage__schedule_expiry" in vars(MemoryStorage)
    assert isinstance(storage_for("memory://"), SweptMemoryStorage)


def test_windows_count_without_threads_and_sweep_once_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_thread(*_: Any, **__: Any) -> Any:
        raise AssertionError("the sweep went to a worker thread")

    monkeypatch.setattr(asyncio, "to_thread", no_thread)
    storage = SweptMemoryStorage()
    sweeps = []
    real_sweep = storage.sweep
    monkeypatch.setattr(storage, "sweep", lambda: (sweeps.append(1), real_sweep()))
    limiter = MovingWindowRateLimiter(storage)
    item = parse("5/minute")

    async def run() -> list[bool]:
        return [await limiter.hit(item, f"client-{n % 50}") for n in range(300)]

    answers = asyncio.run(run())
    assert answers.count(True) == 50 * 5  # each of 50 clients got exactly its 5
    assert len(sweeps) == 1  # 300 hits inside a second: one sweep, not 300


def test_the_sweep_drops_what_expired_and_keeps_what_counts() -> None:
    storage = SweptMemoryStorage()
    limiter = MovingWindowRateLimiter(storage)

    async def run() -> None:
        assert await limiter.hit(parse("2/second"), "gone")
        assert await limiter.hit(parse("2/hour"), "kept")
        await asyncio.sleep(1.1)
        storage.sweep()
        assert "gone" not in "".join(storage.events)
        assert any("kept" in key for key in storage.events)
        assert await limiter.hit(parse("2/hour"), "kept")
        assert not await limiter.hit(parse("2/hour"), "kept")  # the kept entry still counts

    asyncio.run(run())


def test_the_limiter_refuses_with_a_problem_and_retry_after() -> None:
    limiter = Limiter("memory://")

    async def run() -> Problem:
        await limiter.hit("2/minute", "caller")
        await limiter.hit("2/minute", "caller")
        with pytest.raises(Problem) as refused:
            await limiter.hit("2/minute", "caller")
        return refused.value

    started = time.time()
    problem = asyncio.run(run())
    assert problem.status == 429
    assert 1 <= int(problem.headers["Retry-After"]) <= 61 + (time.time() - started)
