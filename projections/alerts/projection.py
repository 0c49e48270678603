"""Alert read models: rules, silences, alerts (current state), their history, and requests awaiting a decision.

Idempotent under redelivery: every lifecycle event is inserted into alert_history first (ON CONFLICT DO NOTHING) and
only a new one changes `alerts`; rule events change a rule only when they name a higher version; silences end once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
import psycopg
from psycopg import sql

from projections.records import Record, Tables
from schemas.alerts.lifecycle import (
    AlertAcknowledged,
    AlertCommand,
    AlertCommandRefused,
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
from schemas.alerts.rules import AlertRuleCreated, AlertRuleDeleted, AlertRuleUpdated
from schemas.alerts.silences import SilenceCreated, SilenceDeleted, SilenceExpired
from schemas.envelope import Envelope
from schemas.topics import ALERT_COMMANDS, ALERT_EVENTS, ALERT_RULES

INSERT_HISTORY = sql.SQL(
    "INSERT INTO {history} (event_id, alert_id, fingerprint, type, at, actor, causation_id, envelope)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING RETURNING 1")
INSERT_ALERT = sql.SQL(
    "INSERT INTO {alerts} (alert_id, fingerprint, rule_id, subject, severity, summary, labels, value, state,"
    " silenced_by, flapping, raised_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'firing', %s, %s, %s, %s)"
    " ON CONFLICT (alert_id) DO NOTHING")
UPDATE_ALERT = "UPDATE {alerts} SET updated_at = %s{sets} WHERE alert_id = %s"
UPDATE_FINGERPRINT = "UPDATE {alerts} SET updated_at = %s{sets} WHERE fingerprint = %s AND state = 'firing'"
INSERT_COMMAND = sql.SQL(
    "INSERT INTO {commands} (event_id, type, fingerprint, alert_id, at, actor, src_partition, src_offset, envelope)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING")
INSERT_RULE = sql.SQL(
    "INSERT INTO {rules} (rule_id, version, name, severity, kind, definition, created_at, created_by, updated_at,"
    " updated_by, last_event_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (rule_id) DO NOTHING")
UPDATE_RULE = sql.SQL(
    "UPDATE {rules} SET version = %s, name = %s, severity = %s, kind = %s, definition = %s, updated_at = %s,"
    " updated_by = %s, last_event_id = %s WHERE rule_id = %s AND version < %s AND NOT deleted")
DELETE_RULE = sql.SQL(
    "UPDATE {rules} SET version = %s, deleted = true, updated_at = %s, updated_by = %s, last_event_id = %s"
    " WHERE rule_id = %s AND version < %s")
INSERT_SILENCE = sql.SQL(
    "INSERT INTO {silences} (silence_id, matchers, starts_at, ends_at, recurrence, mode, created_by, comment,"
    " created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (silence_id) DO NOTHING")
END_SILENCE = sql.SQL(
    "UPDATE {silences} SET ended_at = %s, ended_by = %s, end_reason = %s WHERE silence_id = %s AND ended_at IS NULL")

Values = Callable[[Any], list[Any]]
# per lifecycle event type: the SET clauses on its alert (by id, or by fingerprint when flapping) and their values
BY_ALERT: dict[type[AlertEvent], tuple[str, Values]] = {
    AlertAcknowledged: (", acknowledged = true, acknowledged_at = %s, ack_by = %s, ack_note = %s, ack_until = %s",
                        lambda e: [e.at, e.by, e.note, e.until]),
    AlertUnacknowledged: (", acknowledged = false", lambda e: []),
    AlertResolved: (", state = 'resolved', resolved_at = %s, resolve_reason = %s, value = coalesce(%s, value)",
                    lambda e: [e.at, e.reason, e.value]),
    AlertSilenced: (", silenced_by = %s", lambda e: [e.silence_id]),
    AlertUnsilenced: (", silenced_by = NULL", lambda e: []),
    AlertSuppressed: (", suppressed_by = %s", lambda e: [e.root_alert_id]),
    AlertUnsuppressed: (", suppressed_by = NULL", lambda e: []),
}
BY_FINGERPRINT: dict[type[AlertEvent], tuple[str, Values]] = {
    AlertFlapping: (", flapping = true", lambda e: []),
    AlertStable: (", flapping = false", lambda e: []),
}


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


class AlertsProjection:
    name = "alerts"
    topics = (ALERT_RULES, ALERT_COMMANDS, ALERT_EVENTS)
    tables = ("alerts", "alert_history", "alert_rules", "alert_silences", "alert_commands")
    decode = True

    async def apply(self, conn: psycopg.AsyncConnection, records: Sequence[Record], tables: Tables) -> None:
        async with conn.cursor() as cur:
            for record in records:
                envelope, data = record.event, record.event.data if record.event else None
                if envelope is None:
                    continue
                if isinstance(data, AlertEvent | AlertCommandRefused):
                    await self._lifecycle(cur, envelope, record.value or b"null", tables)
                elif isinstance(data, AlertCommand):
                    await cur.execute(INSERT_COMMAND.format(commands=tables["alert_commands"]), (
                        envelope.event_id, envelope.type, data.fingerprint, getattr(data, "alert_id", None), data.at,
                        envelope.actor, record.partition, record.offset, (record.value or b"null").decode()))
                else:
                    await self._definition(cur, envelope, tables)

    async def _lifecycle(self, cur: psycopg.AsyncCursor[Any], envelope: Envelope, raw: bytes, tables: Tables) -> None:
        e = envelope.data
        assert isinstance(e, AlertEvent | AlertCommandRefused)
        await cur.execute(INSERT_HISTORY.format(history=tables["alert_history"]), (
            envelope.event_id, e.alert_id, e.fingerprint, envelope.type, e.at, envelope.actor, envelope.causation_id,
            raw.decode()))
        if await cur.fetchone() is None or isinstance(e, AlertCommandRefused):
            return  # seen before (a redelivery changes nothing), or a refusal (history only)
        alerts = tables["alerts"]
        if isinstance(e, AlertRaised):
            await cur.execute(INSERT_ALERT.format(alerts=alerts), (
                e.alert_id, e.fingerprint, e.rule_id, e.subject, e.severity.value, e.summary, _json(e.labels),
                e.value, e.silenced_by, e.flapping, e.at, e.at))
            return
        if type(e) in BY_ALERT and e.alert_id is not None:
            sets, values = BY_ALERT[type(e)]
            query, key = UPDATE_ALERT, str(e.alert_id)
        elif type(e) in BY_FINGERPRINT:
            sets, values = BY_FINGERPRINT[type(e)]
            query, key = UPDATE_FINGERPRINT, e.fingerprint
        else:
            return
        await cur.execute(sql.SQL(query.format(alerts="{alerts}", sets=sets)).format(alerts=alerts),
                          [e.at, *values(e), key])

    async def _definition(self, cur: psycopg.AsyncCursor[Any], envelope: Envelope, tables: Tables) -> None:
        d, at, actor, rules, silences = (envelope.data, envelope.occurred_at, envelope.actor, tables["alert_rules"],
                                         tables["alert_silences"])
        if isinstance(d, AlertRuleCreated):
            await cur.execute(INSERT_RULE.format(rules=rules), (
                d.rule_id, d.version, d.name, d.severity.value, d.params.kind, _json(d.model_dump(mode="json")), at,
                actor, at, actor, envelope.event_id))
        elif isinstance(d, AlertRuleUpdated):
            await cur.execute(UPDATE_RULE.format(rules=rules), (
                d.version, d.name, d.severity.value, d.params.kind, _json(d.model_dump(mode="json")), at, actor,
                envelope.event_id, d.rule_id, d.version))
        elif isinstance(d, AlertRuleDeleted):
            await cur.execute(DELETE_RULE.format(rules=rules), (d.version, at, actor, envelope.event_id, d.rule_id,
                                                                 d.version))
        elif isinstance(d, SilenceCreated):
            await cur.execute(INSERT_SILENCE.format(silences=silences), (
                d.silence_id, _json([m.model_dump(mode="json") for m in d.matchers]), d.starts_at, d.ends_at,
                _json(d.recurrence.model_dump(mode="json")) if d.recurrence else None, d.mode, d.created_by,
                d.comment, at))
        elif isinstance(d, SilenceDeleted):
            await cur.execute(END_SILENCE.format(silences=silences), (d.at, d.by, "deleted", d.silence_id))
        elif isinstance(d, SilenceExpired):
            await cur.execute(END_SILENCE.format(silences=silences), (d.at, None, "expired", d.silence_id))
