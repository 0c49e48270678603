"""The outbox of one notification channel, as a projection (its own name, so its own offsets: an independent
consumer of `alerts.events`). Each lifecycle event becomes one `notifications` row keyed (channel, event id), in the
same transaction as the offsets, so a redelivered event inserts nothing. The channel's view of each alert and its
group's due time are updated alongside; processors.notify.sender does the sending.

What is held (recorded, never sent): events of a flapping alert (`flapping` on AlertRaised/AlertResolved, and
AlertFlapping itself), and events of a silenced alert. Silenced means either what the alert processor said
(`silenced_by` on AlertRaised, AlertSilenced until AlertUnsilenced) or, when a silences topic is configured, a mute or
skip-evaluation silence that `processors.silences.is_silenced` finds at the event's own time among the SilenceCreated
events read from that topic (minus the expired and deleted ones). AlertStable resumes notification from the state it
names; AlertUnsilenced notifies a still-firing alert again. A root-cause symptom (AlertSuppressed) is held like a muted
alert until AlertUnsuppressed. Acknowledgements are recorded and hide the alert from
later messages; AlertUnacknowledged shows it again. Events older than `max_event_age` when first seen are recorded as
stale (a new channel must not page for last year's alerts). Other event types on these topics are ignored.

Events are decoded here (decode = False for the runner, so a test or a tool can hand in its own registry; by default
the platform's). An undecodable record of a type acted on raises; the runner then dead-letters it alone and carries
on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from projections.alerts.notify.grouping import GroupClock, Timers, group_of, next_flush
from projections.records import Record, Tables
from schemas.alerts.lifecycle import (
    AlertAcknowledged,
    AlertEvent,
    AlertFlapping,
    AlertRaised,
    AlertResolved,
    AlertSilenced,
    AlertStable,
    AlertSuppressed,
    AlertUnacknowledged,
    AlertUnsilenced,
    AlertUnsuppressed,
)
from schemas.alerts.silences import SilenceCreated, SilenceDeleted, SilenceExpired, is_silenced
from schemas.envelope import Envelope, utc_now
from schemas.registry import EventDecodeError, Registry
from schemas.topics import ALERT_EVENTS

LIFECYCLE = (AlertRaised, AlertAcknowledged, AlertUnacknowledged, AlertResolved, AlertFlapping, AlertStable,
             AlertSilenced, AlertUnsilenced, AlertSuppressed, AlertUnsuppressed)
SILENCES = (SilenceCreated, SilenceExpired, SilenceDeleted)
ACTED_ON = {m.__name__ for m in (*LIFECYCLE, *SILENCES)}

INSERT_NOTIFICATION = sql.SQL(
    "INSERT INTO {notifications} (channel, event_id, type, fingerprint, group_key, at, state, reason, src_topic,"
    " src_partition, src_offset, src_key, envelope, created_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (channel, event_id) DO NOTHING RETURNING 1")
LOAD_ALERT = sql.SQL("SELECT group_key, labels FROM {alerts} WHERE channel = %s AND fingerprint = %s")
UPSERT_RAISED = sql.SQL(
    "INSERT INTO {alerts} (channel, fingerprint, group_key, alert_id, subject, rule_id, severity, summary, labels,"
    " firing, since, flapping, silenced, last_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, true, %s, %s, %s, %s)"
    " ON CONFLICT (channel, fingerprint) DO UPDATE SET group_key = EXCLUDED.group_key,"
    " alert_id = EXCLUDED.alert_id, subject = EXCLUDED.subject, rule_id = EXCLUDED.rule_id,"
    " severity = EXCLUDED.severity, summary = EXCLUDED.summary, labels = EXCLUDED.labels, firing = true,"
    " since = EXCLUDED.since, acknowledged = false, flapping = EXCLUDED.flapping, silenced = EXCLUDED.silenced,"
    " last_at = EXCLUDED.last_at")
UPDATE_ALERT = "UPDATE {alerts} SET last_at = %s{sets} WHERE channel = %s AND fingerprint = %s"
LOCK_GROUP = sql.SQL("SELECT created_at, first_flush_at, last_flush_at, last_sent_at, due_at FROM {groups}"
                     " WHERE channel = %s AND group_key = %s FOR UPDATE")
INSERT_GROUP = sql.SQL("INSERT INTO {groups} (channel, group_key, labels, created_at) VALUES (%s, %s, %s, %s)"
                       " ON CONFLICT (channel, group_key) DO NOTHING")
SET_DUE = sql.SQL("UPDATE {groups} SET due_at = LEAST(due_at, %s) WHERE channel = %s AND group_key = %s")
LOAD_SILENCES = sql.SQL("SELECT silence FROM {silences} WHERE channel = %s")
INSERT_SILENCE = sql.SQL("INSERT INTO {silences} (channel, silence_id, silence, ends_at) VALUES (%s, %s, %s, %s)"
                         " ON CONFLICT (channel, silence_id) DO NOTHING")
DELETE_SILENCE = sql.SQL("DELETE FROM {silences} WHERE channel = %s AND silence_id = %s")

# per lifecycle type: how the channel's view of the alert changes (SET clauses, values from the event)
ALERT_CHANGES: dict[type[AlertEvent], tuple[str, Callable[[Any], list[object]]]] = {
    AlertAcknowledged: (", acknowledged = true", lambda e: []),
    AlertUnacknowledged: (", acknowledged = false", lambda e: []),
    AlertResolved: (", firing = false, acknowledged = false, flapping = %s", lambda e: [e.flapping]),
    AlertFlapping: (", flapping = true", lambda e: []),
    AlertStable: (", flapping = false, firing = %s", lambda e: [e.firing]),
    AlertSilenced: (", silenced = true", lambda e: []),
    AlertUnsilenced: (", silenced = false", lambda e: []),
    # a symptom of a down device's alert (root cause) is held like a muted one: the incident is notified once, as its
    # root; set free (AlertUnsuppressed), it is notified on its own (a mute silence then also lifts until its next
    # change: the view keeps one flag)
    AlertSuppressed: (", silenced = true", lambda e: []),
    AlertUnsuppressed: (", silenced = false", lambda e: []),
}

Cursor = psycopg.AsyncCursor[tuple[Any, ...]]


def default_registry() -> Registry:
    from schemas.catalog import REGISTRY

    return REGISTRY


class NotificationOutbox:
    tables = ("notifications", "notification_alerts", "notification_groups", "notification_silences")
    decode = False

    def __init__(self, channel: str, *, timers: Timers, group_by: Sequence[str], topic: str = ALERT_EVENTS,
                 silences_topic: str = "", registry: Registry | None = None,
                 max_event_age: timedelta = timedelta(days=1), clock: Callable[[], datetime] = utc_now) -> None:
        self.channel = channel
        self.name = f"notify-{channel}"
        self.topics = (topic, silences_topic) if silences_topic else (topic,)
        self._timers, self._group_by, self._max_age, self._clock = timers, tuple(group_by), max_event_age, clock
        self._registry = registry or default_registry()

    async def apply(self, conn: psycopg.AsyncConnection, records: Sequence[Record], tables: Tables) -> None:
        now = self._clock()
        async with conn.cursor() as cur:
            await cur.execute(LOAD_SILENCES.format(silences=tables["notification_silences"]), (self.channel,))
            silences = {s.silence_id: s for s in
                        (SilenceCreated.model_validate(row[0]) for row in await cur.fetchall())}
            for record in records:
                envelope = self._decode(record)
                if envelope is None:
                    continue
                data = envelope.data
                if isinstance(data, SilenceCreated):
                    silences[data.silence_id] = data
                    await cur.execute(INSERT_SILENCE.format(silences=tables["notification_silences"]),
                                      (self.channel, data.silence_id, Jsonb(data.model_dump(mode="json")),
                                       data.ends_at))
                elif isinstance(data, SilenceExpired | SilenceDeleted):
                    silences.pop(data.silence_id, None)
                    await cur.execute(DELETE_SILENCE.format(silences=tables["notification_silences"]),
                                      (self.channel, data.silence_id))
                elif isinstance(data, AlertEvent):
                    await self._lifecycle(cur, record, envelope, data, list(silences.values()), tables, now)

    def _decode(self, record: Record) -> Envelope | None:
        """The event, or None for a type this outbox does not act on. An event it acts on that does not decode
        raises: the runner then dead-letters that record alone."""
        try:
            return self._registry.decode(record.value)
        except EventDecodeError:
            try:
                name = orjson.loads(record.value or b"null").get("type")
            except (orjson.JSONDecodeError, AttributeError):
                raise
            if name in ACTED_ON:
                raise
            return None

    async def _lifecycle(self, cur: Cursor, record: Record, envelope: Envelope, event: AlertEvent,
                         silences: list[SilenceCreated], tables: Tables, now: datetime) -> None:
        if isinstance(event, AlertRaised):
            group_key, group_labels = group_of(event.labels, self._group_by)
            labels: dict[str, str] = dict(event.labels)
        else:
            await cur.execute(LOAD_ALERT.format(alerts=tables["notification_alerts"]),
                              (self.channel, event.fingerprint))
            known = await cur.fetchone()
            if known is None:  # an event of an alert this channel never saw raised (it began before a reset)
                await self._insert(cur, record, envelope, event, "", "dropped", "unknown alert", tables, now)
                return
            group_key, labels = known[0], dict(known[1])
            group_labels = group_of(labels, self._group_by)[1]
        state, reason = self._verdict(event, labels, silences, now)
        clock = await self._lock_group(cur, group_key, group_labels, create=state == "pending", tables=tables,
                                       now=now)
        if not await self._insert(cur, record, envelope, event, group_key, state, reason, tables, now):
            return  # redelivered: already recorded, and the alert's view already changed
        await self._change_alert(cur, event, group_key, tables)
        if state == "pending" and clock is not None:
            due = next_flush(clock, self._timers, pending_since=now, firing=True)
            await cur.execute(SET_DUE.format(groups=tables["notification_groups"]), (due, self.channel, group_key))

    def _verdict(self, event: AlertEvent, labels: dict[str, str], silences: list[SilenceCreated], now: datetime
                 ) -> tuple[str, str | None]:
        if event.at < now - self._max_age:
            return "dropped", "stale"
        if isinstance(event, AlertAcknowledged):
            return "dropped", "acknowledged"
        if isinstance(event, AlertFlapping) or (isinstance(event, AlertRaised | AlertResolved) and event.flapping):
            return "held", "flapping"
        if isinstance(event, AlertSuppressed):
            return "held", f"suppressed:{event.root_alert_id}"
        said = event.silenced_by if isinstance(event, AlertRaised) else (
            event.silence_id if isinstance(event, AlertSilenced) else None)
        if said is not None:
            return "held", f"silenced:{said}"
        silence = is_silenced(labels, silences, event.at)
        if silence is not None:
            return "held", f"silenced:{silence.silence_id}"
        return "pending", None

    async def _lock_group(self, cur: Cursor, group_key: str, labels: dict[str, str], *, create: bool,
                          tables: Tables, now: datetime) -> GroupClock | None:
        """Lock the group row before touching its alerts (the sender locks in the same order: no deadlock)."""
        groups = tables["notification_groups"]
        if create:
            await cur.execute(INSERT_GROUP.format(groups=groups), (self.channel, group_key, Jsonb(labels), now))
        await cur.execute(LOCK_GROUP.format(groups=groups), (self.channel, group_key))
        row = await cur.fetchone()
        return None if row is None else GroupClock(row[0], row[1], row[2], row[3])

    async def _insert(self, cur: Cursor, record: Record, envelope: Envelope, event: AlertEvent, group_key: str,
                      state: str, reason: str | None, tables: Tables, now: datetime) -> bool:
        await cur.execute(INSERT_NOTIFICATION.format(notifications=tables["notifications"]), (
            self.channel, envelope.event_id, envelope.type, event.fingerprint, group_key, event.at, state, reason,
            record.topic, record.partition, record.offset, record.key, (record.value or b"null").decode(), now))
        return await cur.fetchone() is not None

    async def _change_alert(self, cur: Cursor, event: AlertEvent, group_key: str, tables: Tables) -> None:
        alerts = tables["notification_alerts"]
        if isinstance(event, AlertRaised):
            await cur.execute(UPSERT_RAISED.format(alerts=alerts), (
                self.channel, event.fingerprint, group_key, event.alert_id, event.subject, event.rule_id,
                event.severity.value, event.summary, Jsonb(dict(event.labels)), event.at, event.flapping,
                event.silenced_by is not None, event.at))
            return
        sets, values = ALERT_CHANGES.get(type(event), ("", lambda e: []))
        query = sql.SQL(UPDATE_ALERT.format(alerts="{alerts}", sets=sets)).format(alerts=alerts)
        await cur.execute(query, [event.at, *values(event), self.channel, event.fingerprint])

