"""Waiting for PostgreSQL notifications (infra.notifications) on a real server: what arrives is returned, a quiet
wait ends at its timeout with nothing, and the wait does not wake the event loop every 0.1 s as psycopg's does."""

from __future__ import annotations

import asyncio
import time

import psycopg

from infra.notifications import next_notifications
from tests.helpers.support import Backbone


async def test_notifications_come_back_and_a_quiet_wait_times_out(backbone: Backbone) -> None:
    async with await psycopg.AsyncConnection.connect(backbone.database_url, autocommit=True) as listener, \
            await psycopg.AsyncConnection.connect(backbone.database_url, autocommit=True) as sender:
        await listener.execute("LISTEN gate_test")
        started = time.monotonic()
        assert await next_notifications(listener, 0.3) == []
        assert time.monotonic() - started >= 0.29

        async def send_later() -> None:
            await asyncio.sleep(0.2)
            await sender.execute("SELECT pg_notify('gate_test', 'a'), pg_notify('gate_test', 'b')")

        sending = asyncio.create_task(send_later())
        started = time.monotonic()
        got = await next_notifications(listener, 5.0)
        await sending
        assert time.monotonic() - started < 2.0
        payloads = [n.payload for n in got]
        while len(payloads) < 2:  # the second may come in a later read
            payloads += [n.payload for n in await next_notifications(listener, 1.0)]
        assert payloads == ["a", "b"]
        await sender.execute("NOTIFY gate_test, 'waiting'")  # already there when the wait starts
        await asyncio.sleep(0.1)
        assert [n.payload for n in await next_notifications(listener, 0.0)] == ["waiting"]


async def test_a_quiet_wait_does_not_wake_the_loop(backbone: Backbone) -> None:
    async with await psycopg.AsyncConnection.connect(backbone.database_url, autocommit=True) as listener:
        await listener.execute("LISTEN gate_quiet")
        loop = asyncio.get_running_loop()
        timers: list[float] = []
        call_later = loop.call_later

        def counting(delay: float, *args: object, **kwargs: object) -> asyncio.TimerHandle:
            timers.append(delay)
            return call_later(delay, *args, **kwargs)  # type: ignore[arg-type]

        loop.call_later = counting  # type: ignore[method-assign]
        try:
            assert await next_notifications(listener, 1.0) == []
        finally:
            loop.call_later = call_later  # type: ignore[method-assign]
        assert len([t for t in timers if t > 0]) <= 2, timers  # psycopg's notifies(): one 0.1 s timer after another
