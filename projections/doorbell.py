"""One doorbell per projections process: the projection that reads every topic (the archive) rings it for the
topics of each batch it fetches; the others, once their topics have been quiet for a while, stop fetching (the
broker is not asked at all) until it rings for one of their topics, or a long safety timeout passes. An idle stack
then has one consumer asking the embedded broker for news instead of one per projection (each ask costs the broker
about a millisecond of CPU per fetch of many partitions), and the first record after a quiet spell costs the
others one short fetch more."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping


class Doorbell:
    def __init__(self) -> None:
        self._rung: dict[str, int] = {}  # per topic: how often it was rung (a count, so no ring is missed)
        self._changed = asyncio.Condition()

    def snapshot(self, topics: Iterable[str]) -> dict[str, int]:
        """Where the rings stand now; wait() returns at once for a ring after this."""
        return {topic: self._rung.get(topic, 0) for topic in topics}

    async def ring(self, topics: Iterable[str]) -> None:
        async with self._changed:
            for topic in topics:
                self._rung[topic] = self._rung.get(topic, 0) + 1
            self._changed.notify_all()

    async def wait(self, seen: Mapping[str, int], timeout_s: float) -> None:
        """Until one of these topics was rung since `seen`, or timeout_s."""
        def rung() -> bool:
            return any(self._rung.get(topic, 0) > count for topic, count in seen.items())

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(rung), timeout_s)
            except TimeoutError:
                pass
