"""The transactional outbox: what makes a 202 mean "durably recorded" on every deployment.

A command handler appends its events to the `outbox` table in one short transaction and only then answers. The
relay — one per database at a time (an advisory lock elects it among API processes) — produces the rows in `seq`
order with the platform producer, records where each landed, and wakes whoever waits for them. One producer in seq
order keeps an aggregate's events in order even when the broker was away and the rows queued up.

A row is forgotten once the event archive holds its event. After an embedded broker lost its in-memory log, the
supervisor restores the archive into the new broker (offsets unchanged) and then `unsent_after_restore` hands every
row the archive never got back to the relay: the same event id again, so every consumer stays idempotent.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool

from infra.notifications import next_notifications
from infra.producer import EventProducer, Position
from infra.topics import PRODUCED_CHANNEL
from schemas.catalog import REGISTRY
from schemas.envelope import Envelope

log = structlog.get_logger(__name__)

APPEND = ("INSERT INTO outbox (event_id, topic, key, value)"
          " SELECT * FROM unnest(%s::uuid[], %s::text[], %s::bytea[], %s::bytea[]) RETURNING seq")
NEXT = 'SELECT seq, topic, key, value FROM outbox WHERE "offset" IS NULL ORDER BY seq LIMIT %s'
MARK = ('UPDATE outbox o SET partition = p.partition, "offset" = p.off, produced_at = now()'
        " FROM unnest(%s::bigint[], %s::integer[], %s::bigint[]) AS p(seq, partition, off) WHERE o.seq = p.seq")
PRODUCED = 'SELECT seq, topic, partition, "offset" FROM outbox WHERE seq = ANY(%s) AND "offset" IS NOT NULL'
PAUSED = "SELECT paused FROM outbox_control"
PAUSE = "UPDATE outbox_control SET paused = %s, reason = %s, changed_at = now(), idle = false"
IDLE = "UPDATE outbox_control SET idle = true WHERE paused"
QUIET = ("SELECT idle OR NOT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = 0"
         " AND objid = %s AND objsubid = 1 AND granted) FROM outbox_control")
FORGET = ('DELETE FROM outbox o WHERE o."offset" IS NOT NULL AND o.produced_at < now() - interval \'1 minute\''
          " AND EXISTS (SELECT 1 FROM event_archive a WHERE a.event_id = o.event_id)")
RESEND = ('UPDATE outbox o SET partition = NULL, "offset" = NULL, produced_at = NULL WHERE o."offset" IS NOT NULL'
          " AND NOT EXISTS (SELECT 1 FROM event_archive a WHERE a.event_id = o.event_id)")
RELAY_LOCK = 0x0B7B0C5  # pg_try_advisory_lock key: one relay per database
CHANNEL = "opsledger_outbox"


class OutboxUnavailable(RuntimeError):
    """The database refused or did not answer in time: the events are NOT recorded."""


@dataclass(frozen=True)
class Receipt:
    """Where a command's events are: produced (positions, in event order) or still queued in the outbox (seqs)."""

    positions: list[Position]
    queued: list[int] = field(default_factory=list)


class Outbox:
    """The API's side: append events durably, then wait a little for the relay to produce them.

    Appends group-commit: what callers append while a commit is in flight goes in the next one, one INSERT and one
    commit for all of them, and each caller is answered once its own rows are committed (the same promise as a
    transaction of its own). When nothing else is in flight, an append commits at once."""

    def __init__(self, pool: AsyncConnectionPool, relay: Relay, *, produce_within_s: float = 1.0,
                 connect_timeout_s: float = 1.5) -> None:
        self._pool, self._relay = pool, relay
        self._produce_within_s, self._connect_timeout_s = produce_within_s, connect_timeout_s
        self._waiting: list[tuple[list[tuple[object, ...]], asyncio.Future[list[int]]]] = []
        self._committing: asyncio.Task[None] | None = None
        self.commits = 0  # transactions the appends took (fewer than appends under load)

    async def append(self, events: Sequence[Envelope]) -> list[int]:
        """Commit the events to the outbox; their seqs, in order. Raises OutboxUnavailable when that failed."""
        if not events:
            return []
        rows: list[tuple[object, ...]] = [(event.event_id, REGISTRY.topic_of(event), event.subject.encode(),
                                           REGISTRY.encode(event)) for event in events]
        answer: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._waiting.append((rows, answer))
        if self._committing is None or self._committing.done():
            self._committing = asyncio.create_task(self._commit_waiting())
        return await asyncio.shield(answer)  # a caller that goes away leaves its rows to the commit under way

    async def _commit_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            columns = tuple(list(column) for column in zip(*(row for rows, _ in batch for row in rows), strict=True))
            try:
                async with self._pool.connection(timeout=self._connect_timeout_s) as conn:
                    seqs = [row[0] for row in await (await conn.execute(APPEND, columns)).fetchall()]
            except (psycopg.Error, TimeoutError, OSError) as e:
                failed = OutboxUnavailable(f"PostgreSQL did not record the events ({type(e).__name__})")
                for _, answer in batch:
                    if not answer.done():
                        answer.set_exception(failed)
                continue
            except BaseException as e:  # cancelled (shutdown) or a bug: no caller may wait forever
                for _, answer in batch + self._waiting:
                    if not answer.done():
                        answer.set_exception(OutboxUnavailable(f"the append was abandoned ({type(e).__name__})"))
                self._waiting = []
                raise
            self.commits += 1
            self._relay.wake()
            start = 0
            for rows, answer in batch:  # RETURNING gives the seqs in the order of the unnested rows
                if not answer.done():
                    answer.set_result(seqs[start:start + len(rows)])
                start += len(rows)

    async def emit_many(self, events: Sequence[Envelope]) -> Receipt:
        """Record durably, then wait up to `produce_within_s` for the broker: positions if it acknowledged them all,
        otherwise the seqs that wait in the outbox (the command is accepted all the same)."""
        seqs = await self.append(events)
        positions = await self._relay.produced(seqs, self._produce_within_s)
        return Receipt(positions) if positions is not None else Receipt([], seqs)

    async def emit(self, event: Envelope) -> Receipt:
        return await self.emit_many([event])


class Relay:
    """Produces the outbox in seq order while it holds the relay lock; any process may wait for a row."""

    RECENT_KEPT = 10_000  # positions of the rows produced last, for waiters that came after the relay was done

    def __init__(self, database_url: str, pool: AsyncConnectionPool, producer: EventProducer, *,
                 batch: int = 1000) -> None:
        self._database_url, self._pool, self._producer, self._batch = database_url, pool, producer, batch
        self._wake = asyncio.Event()
        self._waiters: dict[int, asyncio.Future[Position]] = {}
        self._recent: OrderedDict[int, Position] = OrderedDict()
        self.leader = False

    def wake(self) -> None:
        self._wake.set()

    async def produced(self, seqs: Sequence[int], timeout_s: float) -> list[Position] | None:
        """The positions of these rows once all are produced; None if that took longer than timeout_s."""
        if not self.leader:  # another process relays: look the rows up until they are produced
            return await self._look_up_until(seqs, time.monotonic() + timeout_s)
        loop = asyncio.get_running_loop()
        futures = [self._waiters.setdefault(seq, loop.create_future()) for seq in seqs if seq not in self._recent]
        try:
            await asyncio.wait_for(asyncio.gather(*(asyncio.shield(f) for f in futures)), timeout_s)
        except TimeoutError:
            return None
        finally:
            for seq in seqs:
                self._waiters.pop(seq, None)
        return [self._recent[seq] for seq in seqs]

    async def _look_up_until(self, seqs: Sequence[int], deadline: float) -> list[Position] | None:
        delay = 0.002
        while True:
            try:
                async with self._pool.connection(timeout=1.0) as conn:
                    rows = await (await conn.execute(PRODUCED, (list(seqs),))).fetchall()
            except (psycopg.Error, TimeoutError):
                rows = []
            by_seq = {seq: Position(topic, partition, offset) for seq, topic, partition, offset in rows}
            if len(by_seq) == len(seqs):
                return [by_seq[seq] for seq in seqs]
            if time.monotonic() + delay > deadline:
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: try to become the relay; while it is, produce whatever is queued. Survives the broker and
        the database going away (it waits and tries again)."""
        backoff = 0.1
        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(self._database_url, autocommit=True,
                                                                 connect_timeout=5) as conn:
                    await self._lead(conn, stop)
                backoff = 0.1
            except (psycopg.Error, OSError) as e:
                log.warning("outbox.relay_interrupted", error=str(e)[:300], retry_s=backoff)
            finally:
                self.leader = False
            await _sleep_or_stop(stop, backoff)
            backoff = min(backoff * 2, 5.0)

    async def _lead(self, conn: psycopg.AsyncConnection, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if (await (await conn.execute("SELECT pg_try_advisory_lock(%s)", (RELAY_LOCK,))).fetchone() or [0])[0]:
                break
            await _sleep_or_stop(stop, 1.0)  # another API process relays; this one's waiters look rows up
        self.leader = True
        await conn.execute(f"LISTEN {CHANNEL}")
        last_forget = time.monotonic()
        while not stop.is_set():
            if await self._paused(conn):
                if self._producer.started:  # a broker is being restored: nothing of ours may reach it meanwhile
                    await self._producer.abandon()
                await conn.execute(IDLE)
                await self._idle(conn, stop)
                continue
            if not self._producer.started and not await self._start_producer():
                await _sleep_or_stop(stop, 1.0)
                continue
            moved = await self._relay_batch(conn)
            if time.monotonic() - last_forget > 30:
                await conn.execute(FORGET)
                last_forget = time.monotonic()
            if moved < self._batch:
                await self._idle(conn, stop)

    async def _paused(self, conn: psycopg.AsyncConnection) -> bool:
        row = await (await conn.execute(PAUSED)).fetchone()
        return bool(row and row[0])

    async def _relay_batch(self, conn: psycopg.AsyncConnection) -> int:
        self._wake.clear()  # before looking: an append from now on wakes the next round (none is lost)
        rows = await (await conn.execute(NEXT, (self._batch,))).fetchall()
        if not rows:
            return 0
        try:
            metas = await asyncio.wait_for(self._send(rows), timeout=5)
        except Exception as e:  # the broker is away or refused: the rows stay queued, in order
            log.warning("outbox.produce_failed", queued=len(rows), error=str(e)[:300])
            await self._producer.abandon()  # a later send must not race records still in flight (order, restores)
            await asyncio.sleep(0.5)
            return 0
        seqs = [row[0] for row in rows]
        self._producer.counted([row[1] for row in rows])
        for seq, meta in zip(seqs, metas, strict=True):  # waiters first: the positions are known now
            position = Position(meta.topic, meta.partition, meta.offset)
            self._recent[seq] = position
            future = self._waiters.pop(seq, None)
            if future is not None and not future.done():
                future.set_result(position)
        while len(self._recent) > self.RECENT_KEPT:
            self._recent.popitem(last=False)
        # bookkeeping, not a promise: if this commit is lost, the rows are sent again (same event ids)
        async with conn.transaction():
            await conn.execute("SET LOCAL synchronous_commit = off")
            await conn.execute(MARK, (seqs, [m.partition for m in metas], [m.offset for m in metas]))
            # dozing projections wake for what was just sent: the topics it went to, so the others doze on
            await conn.execute("SELECT pg_notify(%s, %s)", (PRODUCED_CHANNEL, ",".join(sorted({r[1] for r in rows}))))
        return len(rows)

    async def _start_producer(self) -> bool:
        try:
            await asyncio.wait_for(self._producer.start(), timeout=5)
            return True
        except Exception as e:  # noqa: BLE001 - the broker is away: try again in a moment
            log.warning("outbox.broker_unreachable", error=str(e)[:200])
            await self._producer.abandon()
            return False

    async def _send(self, rows: list[tuple[int, str, bytes | None, bytes]]) -> list[Any]:
        sends = [await self._producer.send_raw(topic, bytes(value), bytes(key) if key else None)
                 for _, topic, key, value in rows]
        return list(await asyncio.gather(*sends))

    async def _idle(self, conn: psycopg.AsyncConnection, stop: asyncio.Event) -> None:
        """Until this process appends (wake), another one notifies, or a second passes."""
        local = asyncio.ensure_future(self._wake.wait())
        remote = asyncio.ensure_future(_next_notify(conn))
        done, pending = await asyncio.wait({local, remote}, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


async def _next_notify(conn: psycopg.AsyncConnection) -> None:
    await next_notifications(conn, 1.0)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


async def pause(database_url: str, paused: bool, reason: str = "", timeout_s: float = 20.0) -> bool:
    """Stop (or let again) the relay produce: the supervisor restores a restarted broker meanwhile. When pausing,
    returns once the relay has dropped whatever it had in flight (or no relay runs); False after timeout_s."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(PAUSE, (paused, reason or None))
        await conn.execute(f"NOTIFY {CHANNEL}")
        deadline = time.monotonic() + timeout_s
        while paused and time.monotonic() < deadline:
            row = await (await conn.execute(QUIET, (RELAY_LOCK,))).fetchone()
            if row and row[0]:
                return True
            await asyncio.sleep(0.1)
        return not paused


async def unsent_after_restore(database_url: str) -> int:
    """Queue again every produced row whose event the archive does not hold (the broker lost it); returns how many."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        cur = await conn.execute(RESEND)
        count = cur.rowcount
        await conn.execute(f"NOTIFY {CHANNEL}")
    if count:
        log.warning("outbox.resending", events=count)
    return count
