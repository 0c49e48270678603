"""Live push: one fan-out per API process from the event archive to every streaming client (SSE and WebSocket).

The archive projection commits every record with a growing `seq` and sends `NOTIFY opsledger_archive` in the same
transaction. The hub LISTENs on one dedicated connection (and polls every second in case a notification is missed),
reads the rows after the last seq it has seen, and offers each to every subscription. A subscription's queue is
bounded: a client that falls that far behind is ended, and resumes from its last seq (Last-Event-ID / `after`),
so a slow client never slows the others and still misses nothing that is in the archive.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
import structlog
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from api.consistency import encode_token
from api.metrics import LIVE_CLIENTS, LIVE_DROPPED
from infra.notifications import next_notifications
from infra.producer import Position
from projections.archive import NOTIFY_CHANNEL

log = structlog.get_logger("api.live")
PAGE = 500
POLL_S = 1.0  # fallback when a notification is missed (e.g. sent while the listener was reconnecting)
COLUMNS = sql.SQL('SELECT seq, topic, partition, "offset", type, subject, envelope::text FROM event_archive a')
# at-least-once: one event may be in the log twice (a retried send, an outbox row sent again after a broker restart);
# only its first record is pushed
FIRST_COPY = sql.SQL(" AND NOT EXISTS (SELECT 1 FROM event_archive b WHERE b.event_id = a.event_id AND b.seq < a.seq)")
NEWER = COLUMNS + sql.SQL(" WHERE seq > %s AND envelope IS NOT NULL") + FIRST_COPY + sql.SQL(" ORDER BY seq LIMIT %s")
LAST_SEQ = "SELECT coalesce(max(seq), 0) FROM event_archive"


@dataclass(frozen=True, slots=True)
class Pushed:
    """One archived event as it is pushed: `message` is the JSON every client receives."""

    seq: int
    topic: str
    type: str
    subject: str | None
    message: bytes

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Pushed:
        seq, topic, partition, offset, type_, subject, envelope = row
        token = encode_token([Position(topic, partition, offset)])
        body = envelope if isinstance(envelope, str) else orjson.dumps(envelope).decode()
        message = orjson.dumps({"seq": seq, "topic": topic, "type": type_, "subject": subject,
                                "consistency_token": token, "event": orjson.Fragment(body)})
        return cls(seq, topic, type_, subject, message)


class Subscription:
    """One client's bounded queue; `overflowed` once it fell behind (the client is then ended, not waited for)."""

    def __init__(self, accepts: Callable[[Pushed], bool], capacity: int, owner: str = "") -> None:
        self.accepts, self.owner = accepts, owner
        self.queue: asyncio.Queue[Pushed] = asyncio.Queue(capacity)
        self.overflowed = False

    def offer(self, item: Pushed) -> bool:
        """False when the queue is full: the hub drops this subscription."""
        if not self.accepts(item):
            return True
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True
            return False
        return True


class Hub:
    def __init__(self, database_url: str, pool: AsyncConnectionPool, *, capacity: int, max_clients: int) -> None:
        self.database_url, self.pool = database_url, pool
        self.capacity, self.max_clients = capacity, max_clients
        self.subscriptions: set[Subscription] = set()
        self.last_seq: int | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="live-push-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def ready(self, timeout: float = 5.0) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)
        return self._ready.is_set()

    def subscribe(self, accepts: Callable[[Pushed], bool], owner: str = "") -> tuple[Subscription, int]:
        """Register a subscription and say up to which seq it must read the archive itself (its backfill)."""
        assert self.last_seq is not None, "subscribe after ready()"
        subscription = Subscription(accepts, self.capacity, owner)
        self.subscriptions.add(subscription)  # no await between these two lines: nothing falls in between
        LIVE_CLIENTS.set(len(self.subscriptions))
        return subscription, self.last_seq

    def unsubscribe(self, subscription: Subscription) -> None:
        self.subscriptions.discard(subscription)
        LIVE_CLIENTS.set(len(self.subscriptions))

    def owned(self, owner: str) -> int:
        """How many streams this principal has open on this process (each is a queue and a task)."""
        return sum(1 for s in self.subscriptions if s.owner == owner)

    @property
    def full(self) -> bool:
        return len(self.subscriptions) >= self.max_clients

    def publish(self, items: Sequence[Pushed]) -> None:
        for item in items:
            for subscription in list(self.subscriptions):
                if not subscription.offer(item):
                    self.unsubscribe(subscription)
                    LIVE_DROPPED.inc()
                    log.warning("live push client too slow: disconnected", queued=subscription.queue.qsize())
            self.last_seq = item.seq

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except (psycopg.Error, OSError) as e:  # e.g. the database restarting, or not migrated yet
                log.warning("live push listener failed; retrying in 1 s", error=f"{type(e).__name__}: {e}")
                await asyncio.sleep(1.0)

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as conn:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(NOTIFY_CHANNEL)))
            if self.last_seq is None:
                row = await (await conn.execute(LAST_SEQ)).fetchone()
                self.last_seq = int(row[0]) if row else 0
            self._ready.set()
            while True:
                await self._read_new(conn)
                await next_notifications(conn, POLL_S)

    async def _read_new(self, conn: psycopg.AsyncConnection[Any]) -> None:
        while True:
            rows = await (await conn.execute(NEWER, (self.last_seq, PAGE))).fetchall()
            self.publish([Pushed.from_row(r) for r in rows])
            if len(rows) < PAGE:
                return


async def backfill(pool: AsyncConnectionPool, where: sql.Composable, params: Sequence[Any], after: int,
                   upto: int) -> AsyncIterator[Pushed]:
    """Archived events after `after` up to `upto` (where the live feed took over), page by page."""
    while after < upto:
        query = COLUMNS + sql.SQL(" WHERE seq > %s AND seq <= %s AND envelope IS NOT NULL") + FIRST_COPY + \
            sql.SQL(" AND ") + where + \
            sql.SQL(" ORDER BY seq LIMIT %s")
        async with pool.connection() as conn:
            rows = await (await conn.execute(query, (after, upto, *params, PAGE))).fetchall()
        for row in rows:
            yield Pushed.from_row(row)
        if len(rows) < PAGE:
            return
        after = rows[-1][0]
