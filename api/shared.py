"""One answer shared by every caller for a while: for open endpoints whose answer costs broker or database work
(/readyz, the images status), so callers cannot multiply that work. One caller at a time works it out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar, cast

T = TypeVar("T")


class SharedAnswer(Generic[T]):
    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.at_mono = float("-inf")
        self.answer: T | None = None

    async def get(self, ttl_s: float, work: Callable[[], Awaitable[T]]) -> T:
        """The answer worked out within the last `ttl_s` seconds, or a new one."""
        async with self.lock:
            if time.monotonic() - self.at_mono >= ttl_s:
                self.answer = await work()
                self.at_mono = time.monotonic()
        return cast(T, self.answer)

    def seconds_left(self, ttl_s: float) -> float:
        """How long the answer in hand stands."""
        return self.at_mono + ttl_s - time.monotonic()
