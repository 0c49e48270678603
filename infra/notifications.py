"""Waiting for PostgreSQL notifications on a LISTENing connection without psycopg's 0.1 s wake-ups.

psycopg's `AsyncConnection.notifies(timeout=...)` waits in steps of 0.1 s (psycopg 3.3: its wait interval), so every
listening connection woke its event loop ten times a second for nothing: the API's two (live push, outbox relay) and
the projections' doorbell were a third of an idle stack's event-loop callbacks. This waits on the socket instead
and then takes whatever arrived.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg


async def next_notifications(conn: psycopg.AsyncConnection[Any], timeout_s: float) -> list[psycopg.Notify]:
    """The notifications waiting or arriving within `timeout_s` (an empty list when none came). The connection must
    not run anything else meanwhile."""
    got = await _arrived(conn)
    if got:
        return got
    loop = asyncio.get_running_loop()
    readable = loop.create_future()
    socket = conn.pgconn.socket

    def wake() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(socket, wake)
    try:
        await asyncio.wait({readable}, timeout=timeout_s)
    finally:
        loop.remove_reader(socket)
        readable.cancel()
    return await _arrived(conn)


async def _arrived(conn: psycopg.AsyncConnection[Any]) -> list[psycopg.Notify]:
    """What the server has sent so far (one look: reads the socket if it is readable, never waits)."""
    return [notice async for notice in conn.notifies(timeout=0)]
