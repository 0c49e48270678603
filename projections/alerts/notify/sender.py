"""The sender of one channel: claim a due group (FOR UPDATE SKIP LOCKED, so several senders share the work), send one
message for it, and mark its notifications sent in the transaction that claimed them.

The crash window between "the receiver has it" and "commit" cannot be closed from this side; it is made harmless.
Before sending, the message (its delivery id, the notification rows it answers, its exact content) is written and
committed on a second connection, and each attempt is recorded as it starts. A sender that dies mid-send leaves the
group due and the delivery open; the next claim resends the same content under the same id (email Message-ID,
webhook Idempotency-Key + `delivery_id`), which the receiver can drop. Failures retry with exponential backoff and
jitter, bounded by `max_attempts`; then the original alert events are dead-lettered with the error and the rows are
marked dead. A permanent refusal (SMTP 5xx, HTTP 4xx) goes there at once.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import psycopg
import structlog
from psycopg.types.json import Jsonb

from infra.deadletter import RawSender, deadletter_headers
from projections.alerts.notify.channel import Channel, DeliveryFailed
from projections.alerts.notify.grouping import AlertView, GroupClock, Timers, compose, delivery_id, next_flush
from projections.alerts.notify.message import Notice, notice
from schemas.alerts.silences import SilenceCreated, is_silenced
from schemas.envelope import utc_now
from schemas.topics import DEADLETTER

log = structlog.get_logger(__name__)

CLAIM = """
SELECT group_key, labels, created_at, first_flush_at, last_flush_at, last_sent_at, due_at
FROM notification_groups
WHERE channel = %s AND due_at <= %s AND (retry_at IS NULL OR retry_at <= %s)
ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED
"""
OPEN_DELIVERY = """SELECT delivery_id, event_ids, content FROM notification_deliveries
WHERE channel = %s AND group_key = %s AND state = 'sending'"""
PENDING = """SELECT event_id FROM notifications WHERE channel = %s AND group_key = %s AND state = 'pending'
ORDER BY created_at, event_id FOR UPDATE"""
ALERTS = """SELECT fingerprint, alert_id::text, subject, rule_id, severity, summary, labels, firing, since,
acknowledged, flapping, silenced, notified_firing FROM notification_alerts WHERE channel = %s AND group_key = %s"""
SILENCES = "SELECT silence FROM notification_silences WHERE channel = %s"
OPEN = """INSERT INTO notification_deliveries (channel, delivery_id, group_key, kind, event_ids, content, created_at)
VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (channel, delivery_id) DO NOTHING"""
START_ATTEMPT = """INSERT INTO notification_attempts (channel, delivery_id, attempt, started_at)
SELECT %s, %s, coalesce(max(attempt), 0) + 1, %s FROM notification_attempts WHERE channel = %s AND delivery_id = %s
RETURNING attempt"""
END_ATTEMPT = """UPDATE notification_attempts SET finished_at = %s, ok = %s, error = %s
WHERE channel = %s AND delivery_id = %s AND attempt = %s"""
CLOSE = "UPDATE notification_deliveries SET state = %s, finished_at = %s WHERE channel = %s AND delivery_id = %s"
MARK_ROWS = """UPDATE notifications SET state = %s, reason = %s, delivery_id = %s
WHERE channel = %s AND event_id = ANY(%s) AND state = 'pending'"""
NOTIFIED = "UPDATE notification_alerts SET notified_firing = %s WHERE channel = %s AND fingerprint = ANY(%s)"
RETRY_AT = "UPDATE notification_groups SET retry_at = %s WHERE channel = %s AND group_key = %s"
GROUP_STATE = """SELECT
  (SELECT min(created_at) FROM notifications WHERE channel = %(c)s AND group_key = %(g)s AND state = 'pending'),
  coalesce((SELECT bool_or(firing AND NOT acknowledged) FROM notification_alerts
            WHERE channel = %(c)s AND group_key = %(g)s), false),
  EXISTS (SELECT 1 FROM notification_alerts WHERE channel = %(c)s AND group_key = %(g)s
          AND (firing OR notified_firing))"""
FLUSHED = """UPDATE notification_groups SET first_flush_at = %s, last_flush_at = %s, last_sent_at = %s, due_at = %s,
retry_at = NULL WHERE channel = %s AND group_key = %s"""
FORGET = "DELETE FROM notification_groups WHERE channel = %s AND group_key = %s"
DEAD_EVENTS = """SELECT src_topic, src_partition, src_offset, src_key, envelope::text FROM notifications
WHERE channel = %s AND event_id = ANY(%s) ORDER BY src_topic, src_partition, src_offset"""


def backoff(attempt: int, *, base_s: float, max_s: float, rand: float) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): exponential and capped, with "equal jitter"
    (half fixed, half random) so senders that failed together do not retry together. `rand` is in [0, 1)."""
    ceiling = min(max_s, base_s * 2.0 ** min(attempt - 1, 60))
    return ceiling / 2 + rand * ceiling / 2


@dataclass(frozen=True)
class Claim:
    group_key: str
    clock: GroupClock
    due_at: datetime


class Sender:
    def __init__(self, channel: Channel, *, database_url: str, timers: Timers, deadletters: RawSender,
                 max_attempts: int = 8, backoff_base_s: float = 2.0, backoff_max_s: float = 600.0,
                 poll_interval_s: float = 1.0, clock: Callable[[], datetime] = utc_now,
                 rand: Callable[[], float] = random.random) -> None:
        self.channel = channel
        self._url, self._timers, self._deadletters = database_url, timers, deadletters
        self._max_attempts, self._base, self._cap = max_attempts, backoff_base_s, backoff_max_s
        self._poll, self._clock, self._rand = poll_interval_s, clock, rand
        self.sent = 0

    @property
    def name(self) -> str:
        return self.channel.name

    async def run(self, stop: asyncio.Event) -> None:
        async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn, \
                await psycopg.AsyncConnection.connect(self._url, autocommit=True) as journal:
            log.info("notify.sender_started", channel=self.name)
            while not stop.is_set():
                if await self.flush_one(conn, journal):
                    continue
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self._poll)
                except TimeoutError:
                    pass
        log.info("notify.sender_stopped", channel=self.name, sent=self.sent)

    async def flush_one(self, conn: psycopg.AsyncConnection, journal: psycopg.AsyncConnection) -> bool:
        """Flush the most overdue group, if any is due. False when none is."""
        now = self._clock()
        async with conn.transaction():
            row = await (await conn.execute(CLAIM, (self.name, now, now))).fetchone()
            if row is None:
                return False
            claim = Claim(row[0], GroupClock(row[2], row[3], row[4], row[5]), row[6])
            opened = await self._open_delivery(conn, journal, claim, dict(row[1]), now)
            if opened is None:
                await self._finish_flush(conn, claim, now, sent=False)
                return True
            the_notice, event_ids = opened
            attempt = await self._start_attempt(journal, the_notice.delivery_id, now)
            try:
                await self.channel.send(the_notice)
            except DeliveryFailed as e:
                await self._failed(conn, claim, the_notice, event_ids, attempt, e)
            except Exception as e:  # noqa: BLE001 - a channel bug must not stop the sender; it counts as a failure
                await self._failed(conn, claim, the_notice, event_ids, attempt,
                                   DeliveryFailed(f"{type(e).__name__}: {e}"[:400]))
            else:
                await self._sent(conn, claim, the_notice, event_ids, attempt)
        return True

    async def _open_delivery(self, conn: psycopg.AsyncConnection, journal: psycopg.AsyncConnection, claim: Claim,
                             group_labels: dict[str, str], now: datetime) -> tuple[Notice, list[Any]] | None:
        """The delivery left open by a crash or a failed attempt, else a new one committed before it is sent."""
        found = await (await conn.execute(OPEN_DELIVERY, (self.name, claim.group_key))).fetchone()
        if found is not None:
            return Notice.model_validate(found[2]), list(found[1])
        event_ids = [r[0] for r in await (await conn.execute(PENDING, (self.name, claim.group_key))).fetchall()]
        silences = [SilenceCreated.model_validate(r[0])
                    for r in await (await conn.execute(SILENCES, (self.name,))).fetchall()]
        alerts = [_view(r, silences, now)
                  for r in await (await conn.execute(ALERTS, (self.name, claim.group_key))).fetchall()]
        message = compose(alerts)
        if message is None:
            await conn.execute(MARK_ROWS, ("dropped", "nothing to send", None, self.name, event_ids))
            return None
        kind: Literal["changes", "repeat"] = "changes" if event_ids else "repeat"
        basis = [str(e) for e in event_ids] if event_ids else [claim.due_at.isoformat()]
        made = notice(delivery_id(self.name, claim.group_key, kind, basis), kind, claim.group_key, group_labels,
                      message)
        await journal.execute(OPEN, (self.name, made.delivery_id, claim.group_key, kind, event_ids,
                                     Jsonb(made.model_dump(mode="json")), now))
        return made, event_ids

    async def _start_attempt(self, journal: psycopg.AsyncConnection, delivery: str, now: datetime) -> int:
        cur = await journal.execute(START_ATTEMPT, (self.name, delivery, now, self.name, delivery))
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async def _sent(self, conn: psycopg.AsyncConnection, claim: Claim, n: Notice, event_ids: list[Any],
                    attempt: int) -> None:
        now = self._clock()
        await conn.execute(END_ATTEMPT, (now, True, None, self.name, n.delivery_id, attempt))
        await conn.execute(CLOSE, ("sent", now, self.name, n.delivery_id))
        await conn.execute(MARK_ROWS, ("sent", None, n.delivery_id, self.name, event_ids))
        await conn.execute(NOTIFIED, (True, self.name, [a.fingerprint for a in n.firing]))
        await conn.execute(NOTIFIED, (False, self.name, [a.fingerprint for a in n.resolved]))
        await self._finish_flush(conn, claim, now, sent=True)
        self.sent += 1
        log.info("notify.sent", channel=self.name, delivery_id=n.delivery_id, group=claim.group_key, kind=n.kind,
                 firing=len(n.firing), resolved=len(n.resolved), attempt=attempt)

    async def _failed(self, conn: psycopg.AsyncConnection, claim: Claim, n: Notice, event_ids: list[Any],
                      attempt: int, error: DeliveryFailed) -> None:
        now = self._clock()
        await conn.execute(END_ATTEMPT, (now, False, str(error), self.name, n.delivery_id, attempt))
        if not error.permanent and attempt < self._max_attempts:
            wait = backoff(attempt, base_s=self._base, max_s=self._cap, rand=self._rand())
            await conn.execute(RETRY_AT, (now + timedelta(seconds=wait), self.name, claim.group_key))
            log.warning("notify.retry", channel=self.name, delivery_id=n.delivery_id, attempt=attempt,
                        max_attempts=self._max_attempts, retry_in_s=round(wait, 2), error=str(error))
            return
        await self._deadletter(conn, n, event_ids, attempt, str(error))
        await conn.execute(CLOSE, ("dead", now, self.name, n.delivery_id))
        await conn.execute(MARK_ROWS, ("dead", str(error)[:2000], n.delivery_id, self.name, event_ids))
        await self._finish_flush(conn, claim, now, sent=False)
        log.error("notify.dead", channel=self.name, delivery_id=n.delivery_id, attempts=attempt,
                  permanent=error.permanent, events=len(event_ids), error=str(error))

    async def _deadletter(self, conn: psycopg.AsyncConnection, n: Notice, event_ids: Sequence[Any], attempts: int,
                          error: str) -> None:
        """The original alert events, with the error (Kafka Connect's headers, as projections do). A repeat answers
        no event: its alerts were notified before, so there is nothing to park."""
        rows = await (await conn.execute(DEAD_EVENTS, (self.name, list(event_ids)))).fetchall()
        futures = []
        for topic, partition, offset, key, envelope in rows:
            headers = deadletter_headers(f"notifier:{self.name}", f"delivery {n.delivery_id}: {error}", topic,
                                         partition, offset, attempts)
            futures.append(await self._deadletters.send_raw(DEADLETTER, envelope.encode(), key, headers=headers))
        for future in futures:
            await future  # type: ignore[misc]

    async def _finish_flush(self, conn: psycopg.AsyncConnection, claim: Claim, now: datetime, *, sent: bool
                            ) -> None:
        """Move the group's clock on and schedule its next flush; forget a group with nothing left in it."""
        row = await (await conn.execute(GROUP_STATE, {"c": self.name, "g": claim.group_key})).fetchone()
        assert row is not None
        pending_since, firing, alive = row
        if pending_since is None and not alive:
            await conn.execute(FORGET, (self.name, claim.group_key))
            return
        old = claim.clock
        clock = GroupClock(old.created_at, old.first_flush_at or now, now, now if sent else old.last_sent_at)
        due = next_flush(clock, self._timers, pending_since=pending_since, firing=bool(firing))
        await conn.execute(FLUSHED, (clock.first_flush_at, clock.last_flush_at, clock.last_sent_at, due,
                                     self.name, claim.group_key))


def _view(row: tuple[Any, ...], silences: list[SilenceCreated], now: datetime) -> AlertView:
    (fingerprint, alert_id, subject, rule_id, severity, summary, labels, firing, since, acknowledged, flapping,
     silenced, notified) = row
    return AlertView(fingerprint=fingerprint, alert_id=alert_id, subject=subject, rule_id=rule_id, severity=severity,
                     summary=summary, labels=labels, firing=firing, since=since, acknowledged=acknowledged,
                     flapping=flapping, silenced=silenced or is_silenced(labels, silences, now) is not None,
                     notified_firing=notified)
