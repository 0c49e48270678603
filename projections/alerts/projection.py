"""Alert read models: rules, silences, alerts (current state), their history, and requests awaiting a decision.

Idempotent under redelivery: every lifecycle event is inserted into alert_history first (ON CONFLICT DO NOTHING) and
only a new one changes `alerts`; rule events change a rule only when they name a higher version; silences end once.
Every event is one self-contained statement (a lifecycle event's history row and, only if that row is new, its change
to `alerts`), so none needs an answer before the next and a batch is sent in one pipeline, in log order.
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

HISTORY = ("INSERT INTO {history} (event_id, alert_id, fingerprint, type, at, actor, causation_id, envelope)"
           " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING")
NEW_HISTORY = f"WITH new AS ({HISTORY} RETURNING 1)"
IF_NEW = " AND EXISTS (SELECT 1 FROM new)"
INSERT_ALERT = (" INSERT INTO {alerts} (alert_id, fingerprint, rule_id, subject, severity, summary, labels, value,"
                " state, silenced_by, flapping, raised_at, updated_at)"
                " SELECT %s, %s, %s, %s, %s, %s, %s, %s, 'firing', %s, %s, %s, %s WHERE EXISTS (SELECT 1 FROM new)"
                " ON CONFLICT (alert_id) DO NOTHING")
UPDATE_ALERT = " UPDATE {alerts} SET updated_at = %s{sets} WHERE alert_id = %s" + IF_NEW
UPDATE_FINGERPRINT = " UPDATE {alerts} SET updated_at = %s{sets} WHERE fingerprint = %s AND state = 'firing'" + IF_NEW
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
        statements = [self._statement(r, tables) for r in records if r.event is not None]
        async with conn.cursor() as cur, conn.pipeline():
            for query, params in statements:
                if query is not None:
                    await cur.execute(query, params)

    def _statement(self, record: Record, tables: Tables) -> tuple[sql.Composed | None, Sequence[Any]]:
        envelope = record.event
        assert envelope is not None
        data = envelope.data
        if isinstance(data, AlertEvent | AlertCommandRefused):
            return lifecycle(envelope, record.value or b"null", tables)
        if isinstance(data, AlertCommand):
            return INSERT_COMMAND.format(commands=tables["alert_commands"]), (
                envelope.event_id, envelope.type, data.fingerprint, getattr(data, "alert_id", None), data.at,
                envelope.actor, record.partition, record.offset, (record.value or b"null").decode())
        return definition(envelope, tables)


def lifecycle(envelope: Envelope, raw: bytes, tables: Tables) -> tuple[sql.Composed, list[Any]]:
    """The one statement applying a lifecycle event (or a refusal: its history row only)."""
    e = envelope.data
    assert isinstance(e, AlertEvent | AlertCommandRefused)
    params: list[Any] = [envelope.event_id, e.alert_id, e.fingerprint, envelope.type, e.at, envelope.actor,
                         envelope.causation_id, raw.decode()]
    if isinstance(e, AlertRaised):
        params += [e.alert_id, e.fingerprint, e.rule_id, e.subject, e.severity.value, e.summary, _json(e.labels),
                   e.value, e.silenced_by, e.flapping, e.at, e.at]
        return named(NEW_HISTORY + INSERT_ALERT, tables), params
    if isinstance(e, AlertEvent) and type(e) in BY_ALERT and e.alert_id is not None:
        sets, values = BY_ALERT[type(e)]
        text, key = UPDATE_ALERT, str(e.alert_id)
    elif isinstance(e, AlertEvent) and type(e) in BY_FINGERPRINT:
        sets, values = BY_FINGERPRINT[type(e)]
        text, key = UPDATE_FINGERPRINT, e.fingerprint
    else:
        return named(HISTORY, tables), params  # history only
    return named(NEW_HISTORY + text.replace("{sets}", sets), tables), [*params, e.at, *values(e), key]


def named(text: str, tables: Tables) -> sql.Composed:
    return sql.SQL(text).format(history=tables["alert_history"], alerts=tables["alerts"])


def definition(envelope: Envelope, tables: Tables) -> tuple[sql.Composed | None, Sequence[Any]]:
    """The one statement applying a rule or silence event (None: an event this projection does not keep)."""
    d, at, actor, rules, silences = (envelope.data, envelope.occurred_at, envelope.actor, tables["alert_rules"],
                                     tables["alert_silences"])
    if isinstance(d, AlertRuleCreated):
        return INSERT_RULE.format(rules=rules), (
            d.rule_id, d.version, d.name, d.severity.value, d.params.kind, _json(d.model_dump(mode="json")), at,
            actor, at, actor, envelope.event_id)
    if isinstance(d, AlertRuleUpdated):
        return UPDATE_RULE.format(rules=rules), (
            d.version, d.name, d.severity.value, d.params.kind, _json(d.model_dump(mode="json")), at, actor,
            envelope.event_id, d.rule_id, d.version)
    if isinstance(d, AlertRuleDeleted):
        return DELETE_RULE.format(rules=rules), (d.version, at, actor, envelope.event_id, d.rule_id, d.version)
    if isinstance(d, SilenceCreated):
        return INSERT_SILENCE.format(silences=silences), (
            d.silence_id, _json([m.model_dump(mode="json") for m in d.matchers]), d.starts_at, d.ends_at,
            _json(d.recurrence.model_dump(mode="json")) if d.recurrence else None, d.mode, d.created_by,
            d.comment, at)
    if isinstance(d, SilenceDeleted):
        return END_SILENCE.format(silences=silences), (d.at, d.by, "deleted", d.silence_id)
    if isinstance(d, SilenceExpired):
        return END_SILENCE.format(silences=silences), (d.at, None, "expired", d.silence_id)
    return None, ()
