"""One doorbell per projections process. It rings when the outbox relay says it produced to a topic (PostgreSQL
NOTIFY on infra.topics.PRODUCED_CHANNEL, the topics as payload: commands). The process's one consumer
(projections/sources.py) holds its fetches in the client while its topics are quiet (infra/fetch_gate.py: the embedded
broker spends CPU on every partition of a fetch it holds, idle or not) and asks for end offsets every probe interval;
a ring for one of its topics lets the held fetch go at once, so a command after a quiet spell is not kept waiting for
the next probe. Records written straight to the broker (derived events, poll facts) are found by the probe."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping


class Doorbell:
    """No lock: a ring sets every waiter's future, a waiter checks the counts again. It was an asyncio.Condition waited
    with asyncio.wait_for: waiters cancelled together, one of them as a ring came, did not finish (3.11's wait_for
    returns an inner wait that finished at the moment it is cancelled), and a projections process crashing on a
    database gone away hung in asyncio.run's shutdown with its runners dozing here (the PostgreSQL kill drill, once
    rings named their topics and most runners dozed). asyncio.wait lets a cancellation through."""

    def __init__(self) -> None:
        self._rung: dict[str, int] = {}  # per topic: how often it was rung (a count, so no ring is missed)
        self._waiters: set[asyncio.Future[None]] = set()

    def snapshot(self, topics: Iterable[str]) -> dict[str, int]:
        """Where the rings stand now; wait() returns at once for a ring after this."""
        return {topic: self._rung.get(topic, 0) for topic in topics}

    async def ring(self, topics: Iterable[str]) -> None:
        for topic in topics:
            self._rung[topic] = self._rung.get(topic, 0) + 1
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, seen: Mapping[str, int], timeout_s: float) -> bool:
        """Until one of these topics was rung since `seen` (True), or timeout_s (False)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not any(self._rung.get(topic, 0) > count for topic, count in seen.items()):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
            try:  # not wait_for: on 3.11 it swallows a cancellation that comes as the waiter is rung
                await asyncio.wait({waiter}, timeout=remaining)
            finally:
                self._waiters.discard(waiter)
        return True


def produced_topics(payload: str, topics: frozenset[str]) -> frozenset[str]:
    """The topics a relay notification names, of those this process reads; all of them for a notification that names
    none (one from a relay of an older release)."""
    named = frozenset(payload.split(",")) if payload else topics
    return named & topics


async def listen_for_produced(database_url: str, doorbell: Doorbell, topics: Iterable[str],
                              stop: asyncio.Event) -> None:
    """Ring for the topics the outbox relay says it produced to (the notification's payload: a comma-separated
    list); reconnects after a failure."""
    import psycopg

    from infra.notifications import next_notifications
    from infra.topics import PRODUCED_CHANNEL

    everything = frozenset(topics)
    while not stop.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
                await conn.execute(f"LISTEN {PRODUCED_CHANNEL}")
                while not stop.is_set():
                    for notice in await next_notifications(conn, 1.0):
                        rung = produced_topics(notice.payload, everything)
                        if rung:
                            await doorbell.ring(rung)
        except psycopg.Error:
            await asyncio.sleep(1.0)
