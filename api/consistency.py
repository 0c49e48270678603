"""Read-your-writes: a command returns where its events landed; a read waits until projections applied them.

A token names, per topic partition, the span of offsets a command's events landed on ("topic:partition:first-last";
a single offset when first = last), so a batch of a thousand scans still makes a short token.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import psycopg
from psycopg_pool import AsyncConnectionPool

from api.problems import Problem
from infra.producer import Position

HEADER = "Opsledger-Consistency"
OUTBOX = "~outbox"  # never a Kafka topic name (those are [A-Za-z0-9._-])
OUTBOX_ROWS = 'SELECT topic, partition, "offset" FROM outbox WHERE seq BETWEEN %s AND %s'
APPLIED = "SELECT next_offset FROM projection_offsets WHERE projection = %s AND topic = %s AND partition = %s"


@dataclass(frozen=True, slots=True)
class Span:
    """The offsets [first, last] of one topic partition that a command's events landed on."""

    topic: str
    partition: int
    first: int
    last: int


def spans_of(positions: Sequence[Position]) -> list[Span]:
    spans: dict[tuple[str, int], Span] = {}
    for p in positions:
        s = spans.get((p.topic, p.partition))
        spans[p.topic, p.partition] = (Span(p.topic, p.partition, p.offset, p.offset) if s is None else
                                       Span(p.topic, p.partition, min(s.first, p.offset), max(s.last, p.offset)))
    return list(spans.values())


def encode_token(positions: Sequence[Position], queued: Sequence[int] = ()) -> str:
    """Spans of broker offsets, and one span of outbox rows (seqs) for events still queued when the command answered
    (the broker was away): a read given the token first waits for the relay to produce those."""
    spans = spans_of(positions)
    if queued:
        spans.append(Span(OUTBOX, 0, min(queued), max(queued)))
    text = ",".join(f"{s.topic}:{s.partition}:{s.first}" + (f"-{s.last}" if s.last != s.first else "")
                    for s in spans)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_token(token: str) -> list[Span]:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        spans = []
        for part in text.split(","):
            topic, partition, offsets = part.rsplit(":", 2)
            first, _, last = offsets.partition("-")
            span = Span(topic, int(partition), int(first), int(last or first))
            if span.first < 0 or span.last < span.first:
                raise ValueError("offsets must be first-last with 0 <= first <= last")
            spans.append(span)
        if not spans or len(spans) > 1000:
            raise ValueError("token must name 1 to 1000 positions")
        return spans
    except (ValueError, binascii.Error, UnicodeDecodeError) as e:
        raise Problem(400, f"The consistency token is not valid: {e}") from e


async def poll(pool: AsyncConnectionPool, done: Callable[[psycopg.AsyncConnection], Awaitable[bool]],
               timeout_s: float) -> bool:
    """THE consistency wait: ask `done` on a pooled connection until it says True (then True) or timeout_s passed
    (then False), backing off from 2 ms to 25 ms between tries. The connection goes back to the pool while waiting,
    so waiters do not starve the requests that would let them finish."""
    deadline = time.monotonic() + timeout_s
    delay = 0.002
    while True:
        async with pool.connection() as conn:
            if await done(conn):
                return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.025)


async def produced(pool: AsyncConnectionPool, spans: Sequence[Span], timeout_s: float) -> list[Span]:
    """The spans with every outbox span replaced by the broker positions its rows were produced at (waiting for the
    relay); rows already forgotten were archived long ago and need no wait. 504 problem after timeout_s."""
    queued = [s for s in spans if s.topic == OUTBOX]
    found: list[Span] = [s for s in spans if s.topic != OUTBOX]

    async def all_produced(conn: psycopg.AsyncConnection) -> bool:
        for span in list(queued):
            rows = await (await conn.execute(OUTBOX_ROWS, (span.first, span.last))).fetchall()
            if any(offset is None for _, _, offset in rows):
                return False
            found.extend(Span(topic, partition, offset, offset) for topic, partition, offset in rows)
            queued.remove(span)
        return True

    if queued and not await poll(pool, all_produced, timeout_s):
        raise not_consistent("event log", timeout_s)
    return found


async def wait_applied(pool: AsyncConnectionPool, projection: str, topics: Sequence[str],
                       spans: Sequence[Span | Position], timeout_s: float) -> list[Span]:
    """Return once `projection` has applied every position on its topics (outbox spans first produced); 504
    problem after timeout_s. Returns the spans as broker positions, for a further wait (wait_decided)."""
    started = time.monotonic()
    resolved = await produced(pool, [s if isinstance(s, Span) else Span(s.topic, s.partition, s.offset, s.offset)
                                     for s in spans], timeout_s)
    pending = [(s.topic, s.partition, s.last) for s in resolved if s.topic in topics]

    async def applied(conn: psycopg.AsyncConnection) -> bool:
        for topic, partition, offset in list(pending):
            row = await (await conn.execute(APPLIED, (projection, topic, partition))).fetchone()
            if row is None or row[0] <= offset:
                return False
            pending.remove((topic, partition, offset))
        return True

    if not await poll(pool, applied, max(0.0, timeout_s - (time.monotonic() - started))):
        raise not_consistent(projection, timeout_s)
    return resolved


async def wait_decided(pool: AsyncConnectionPool, spans: Sequence[Span], timeout_s: float, *, topic: str,
                       undecided: str, projection: str) -> None:
    """Wait until the processor's decisions on the token's records are projected too: `undecided` (partition, first
    offset, last offset -> a row while something in that span has no decision projected yet) runs for each span on
    `topic` until none is left; 504 after timeout_s."""
    pending = [s for s in spans if s.topic == topic]

    async def decided(conn: psycopg.AsyncConnection) -> bool:
        for s in list(pending):
            if await (await conn.execute(undecided, (s.partition, s.first, s.last))).fetchone() is not None:
                return False
            pending.remove(s)
        return True

    if not await poll(pool, decided, timeout_s):
        raise not_consistent(projection, timeout_s)


def not_consistent(projection: str, timeout_s: float) -> Problem:
    return Problem(504, f"The {projection} read model has not caught up with the given consistency token within "
                        f"{timeout_s:g} s; retry the read.", title="Not yet consistent")
