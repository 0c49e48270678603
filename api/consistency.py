"""Read-your-writes: a command returns where its events landed; a read waits until projections applied them.

A token names, per topic partition, the span of offsets a command's events landed on ("topic:partition:first-last";
a single offset when first = last), so a batch of a thousand scans still makes a short token.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass

import psycopg
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from psycopg_pool import AsyncConnectionPool

from api.problems import Problem
from infra.producer import Position

HEADER = "Opsledger-Consistency"
OUTBOX = "~outbox"  # never a Kafka topic name (those are [A-Za-z0-9._-])
LAST_SEQ = "SELECT last_value, is_called FROM outbox_seq_seq"
OUTBOX_ROWS = 'SELECT topic, partition, "offset" FROM outbox WHERE seq BETWEEN %s AND %s'
APPLIED = "SELECT next_offset FROM projection_offsets WHERE projection = %s AND topic = %s AND partition = %s"
MAX_SPANS = 100  # a command's events land on a few topics x their partitions; a token is never longer
ENDS_REFRESH_S = 0.5  # the broker is asked for end offsets at most this often, whatever tokens arrive


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
        if not spans or len(spans) > MAX_SPANS:
            raise ValueError(f"token must name 1 to {MAX_SPANS} positions")
        return spans
    except (ValueError, binascii.Error, UnicodeDecodeError) as e:
        raise Problem(400, f"The consistency token is not valid: {e}") from e


class LogEnds:
    """Where each topic partition of the log ends, to check tokens against: a token is the client's word, so one
    naming a topic or partition that does not exist, or an offset the log has not reached, would otherwise hold a
    waiter for the whole timeout. Cached, and asked again (at most every ENDS_REFRESH_S, one caller at a time) only
    when a token names a position past the cached end; a caller asking sooner waits for the next question, so a
    token minted just after the last one is never refused and forged tokens cost the broker one question a half
    second at most."""

    def __init__(self, topics: Sequence[str], fetch: Callable[[Sequence[str]], Awaitable[dict[TopicPartition, int]]]
                 ) -> None:
        self.topics, self.fetch = tuple(topics), fetch
        self.ends: dict[tuple[str, int], int] = {}
        self.fetched_at = float("-inf")
        self.lock = asyncio.Lock()

    def _known(self, span: Span) -> bool:
        return span.last < self.ends.get((span.topic, span.partition), -1)

    async def check(self, spans: Sequence[Span]) -> None:
        spans = [s for s in spans if s.topic != OUTBOX]  # queued in the outbox: api.consistency.produced checks those
        unknown = sorted({s.topic for s in spans} - set(self.topics))
        if unknown:
            raise Problem(400, f"The consistency token names a topic that does not exist: {unknown[0][:100]!r}.")
        if all(self._known(s) for s in spans):
            return
        async with self.lock:
            if not all(self._known(s) for s in spans):  # another caller's question may have answered it
                pause = self.fetched_at + ENDS_REFRESH_S - time.monotonic()
                if pause > 0:  # asked too recently: wait for the next question rather than refuse a fresh token
                    await asyncio.sleep(pause)
                try:
                    ends = await self.fetch(self.topics)
                except (KafkaError, OSError, TimeoutError) as e:  # the broker is away: say so, not 500
                    raise Problem(503, "The event log is unavailable right now, so the consistency token cannot be "
                                       "checked; retry shortly.", headers={"Retry-After": "2"}) from e
                self.ends = {(tp.topic, tp.partition): end for tp, end in ends.items()}
                self.fetched_at = time.monotonic()
        for s in spans:
            if (s.topic, s.partition) not in self.ends:
                raise Problem(400, f"The consistency token names partition {s.partition} of {s.topic}, which does "
                                   "not exist.")
            if not self._known(s):
                raise Problem(400, "The consistency token names a position the log has not reached; use the token "
                                   "a command answered.")


class Waiters:
    """How many requests wait for consistency at once in this process (OPSLEDGER_CONSISTENCY_MAX_WAITERS): beyond
    it a read is told to retry (503) at once rather than queue behind the others."""

    def __init__(self, limit: int) -> None:
        self.limit, self.count = limit, 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        if self.count >= self.limit:
            raise Problem(503, "Too many reads are waiting for consistency right now; retry shortly.",
                          headers={"Retry-After": "1"})
        self.count += 1
        try:
            yield
        finally:
            self.count -= 1


WAITERS = Waiters(64)  # create_app sets the configured limit


async def poll(pool: AsyncConnectionPool, done: Callable[[psycopg.AsyncConnection], Awaitable[bool]],
               timeout_s: float) -> bool:
    """THE consistency wait: ask `done` on a pooled connection until it says True (then True) or timeout_s passed
    (then False), backing off from 2 ms to 25 ms between tries. The connection goes back to the pool while waiting
    (no pooled connection is ever held while sleeping), so waiters do not starve the requests that would let them
    finish; and at most WAITERS.limit requests wait at once."""
    deadline = time.monotonic() + timeout_s
    delay = 0.002
    async with pool.connection() as conn:  # the common case: already applied, no slot needed
        if await done(conn):
            return True
    with WAITERS.slot():
        while True:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.025)
            async with pool.connection() as conn:
                if await done(conn):
                    return True


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

    if queued:
        async with pool.connection() as conn:
            row = await (await conn.execute(LAST_SEQ)).fetchone()
        if any(span.last > (row[0] if row and row[1] else 0) for span in queued):
            raise Problem(400, "The consistency token names an outbox position not yet written; use the token a "
                               "command answered.")
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
