"""Alerts: list, summary, one with its history; acknowledge (one or all matching), resolve, and manual alerts.
Requests become events on alerts.commands; the processor decides them against the alert's state (acknowledging a
resolved alert is refused). ?wait=true answers the outcome: the alert (200/201) or 409 when refused."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field

from api.commands import Accepted, emit
from api.deps import DbConn, Pool, Producer, SettingsDep
from api.fields import Instant, LabelsIn
from api.filters import Where
from api.identity.principal import CurrentPrincipal
from api.paging import Cursor, newest_first, time_cursor
from api.problems import Problem
from api.routes.alerts.reads import ALERT_COLUMNS, AlertOut, Consistent, load_alert, outcome, to_alert
from api.text import Text
from producers.alerts import commands
from schemas.alerts.identity import fingerprint
from schemas.alerts.lifecycle import AlertRaiseRequested
from schemas.alerts.rules import Severity
from schemas.envelope import Envelope, utc_now

router = APIRouter(prefix="/api/alerts", tags=["alerts"])
MAX_ACK = timedelta(days=365)
DEFAULT_ACK = timedelta(hours=24)
WAITED: dict[int | str, dict[str, Any]] = {200: {"model": AlertOut, "description": "with ?wait=true: decided"}}
Status = Literal["firing", "acknowledged", "resolved", "active"]
HISTORY = ("SELECT event_id, type, at, actor, envelope->'data' AS data FROM alert_history WHERE alert_id = %s"
           " ORDER BY at, event_id")


class AlertPage(BaseModel):
    items: list[AlertOut]
    next_cursor: str | None


class HistoryEntry(BaseModel):
    event_id: uuid.UUID
    type: str
    at: datetime
    actor: str | None
    data: dict[str, Any]


class AlertWithHistory(AlertOut):
    history: list[HistoryEntry]
    root: AlertOut | None = Field(default=None, description="root cause: the alert this one is a symptom of")
    symptoms: list[AlertOut] = Field(default_factory=list, description="firing alerts grouped under this one")


class Filter(BaseModel):
    """Which alerts: every given field must hold."""

    model_config = ConfigDict(extra="forbid")
    severity: list[Severity] | None = Field(default=None, max_length=5)
    subject: Text | None = Field(default=None, max_length=200)
    device: Text | None = Field(default=None, max_length=200, description="the alert's device label (or subject)")
    rule: Text | None = Field(default=None, max_length=200)
    raised_from: Instant | None = None
    raised_to: Instant | None = None


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Text = Field(default="", max_length=2000)
    until: Instant | None = Field(default=None, description="when the acknowledgement expires; 24 h by default")


class AcknowledgeAllIn(AcknowledgeIn):
    filter: Filter = Field(default_factory=Filter)


class AcknowledgedAll(BaseModel):
    accepted: int
    alert_ids: list[uuid.UUID]
    consistency_token: str | None


class ManualAlertIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: Text = Field(default="system", min_length=1, max_length=200,
                          description="what it is about; 'system' for a system-wide alert")
    severity: Severity
    summary: Text = Field(min_length=1, max_length=1000)
    labels: LabelsIn = Field(default_factory=dict, max_length=50)


class Summary(BaseModel):
    by_state: dict[str, int]
    by_severity: dict[str, dict[str, int]]
    silenced: int
    flapping: int
    oldest_unacknowledged: AlertOut | None


def where_of(f: Filter, status: Status | None = None) -> Where:
    where = Where()
    if status == "resolved":
        where.add("state = 'resolved'")
    elif status is not None:
        where.add("state = 'firing'")
        if status == "firing":
            where.add("NOT acknowledged")
        elif status == "acknowledged":
            where.add("acknowledged")
        elif status == "active":  # what needs someone: firing, not acknowledged, not silenced
            where.add("NOT acknowledged AND silenced_by IS NULL")
    if f.severity:
        where.add("severity = ANY(%s)", [s.value for s in f.severity])
    where.when(f.subject, "subject = %s")
    if f.device is not None:
        where.add("(labels->>'device' = %s OR subject = %s)", f.device, f.device)
    where.when(f.rule, "rule_id = %s")
    where.when(f.raised_from, "raised_at >= %s")
    where.when(f.raised_to, "raised_at < %s")
    return where


def ack_until(requested: datetime | None) -> datetime:
    now = utc_now()
    until = requested or now + DEFAULT_ACK
    if until <= now:
        raise Problem(422, "until must be in the future.")
    if until > now + MAX_ACK:
        raise Problem(422, "until must be within a year; acknowledge again later.")
    return until


async def decided(pool: Pool, response: Response, event: Envelope, accepted: Accepted, alert_id: uuid.UUID | None,
                  timeout_s: float, created: bool = False) -> Accepted | AlertOut:
    """With ?wait=true: the alert after the processor's decision, 409 when it refused, 202 when not decided."""
    found = await outcome(pool, event.event_id, timeout_s)
    if found is None:
        return accepted
    kind, reason = found
    if kind == "AlertCommandRefused":
        raise Problem(409, f"Refused: {reason}.")
    async with pool.connection() as conn:
        if alert_id is None:  # a manual alert: its id comes from the processor
            row = await (await conn.execute("SELECT alert_id FROM alert_history WHERE causation_id = %s LIMIT 1",
                                            (event.event_id,))).fetchone()
            alert_id = row[0] if row else None
    row_ = await load_alert(pool, alert_id) if alert_id else None
    if row_ is None:
        return accepted
    response.status_code = 201 if created else 200
    return to_alert(row_)


@router.get("/", response_model=AlertPage, dependencies=[Consistent])
async def list_alerts(
    conn: DbConn,
    status: Annotated[Status | None, Query(alias="state", description="active: firing, unacknowledged, not silenced"
                                           )] = None,
    severity: Annotated[list[Severity] | None, Query(max_length=5)] = None,
    subject: Annotated[str | None, Query(max_length=200)] = None,
    device: Annotated[str | None, Query(max_length=200)] = None,
    rule: Annotated[str | None, Query(max_length=200)] = None,
    fingerprint_: Annotated[str | None, Query(alias="fingerprint", pattern=r"^[0-9a-f]{32}$")] = None,
    silenced: bool | None = None,
    raised_from: Instant | None = None,
    raised_to: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Cursor | None = None,
) -> AlertPage:
    """Newest first."""
    f = Filter.model_construct(severity=severity, subject=subject, device=device, rule=rule, raised_from=raised_from,
                               raised_to=raised_to)
    where = where_of(f, status)
    where.when(fingerprint_, "fingerprint = %s")
    if silenced is not None:
        where.add("silenced_by IS NOT NULL" if silenced else "silenced_by IS NULL")
    newest_first(where, cursor, "raised_at, alert_id")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql.SQL(ALERT_COLUMNS) + where.sql() + sql.SQL(" ORDER BY raised_at DESC, alert_id DESC"
                                                                         " LIMIT %s"), [*where.params, limit + 1])
        rows = await cur.fetchall()
    items = [to_alert(r) for r in rows[:limit]]
    last = items[-1] if len(rows) > limit else None
    return AlertPage(items=items, next_cursor=time_cursor(last.raised_at, last.alert_id) if last else None)


@router.get("/summary", response_model=Summary, dependencies=[Consistent])
async def summary(conn: DbConn) -> Summary:
    """Counts by state and severity (firing means not acknowledged), silenced and flapping firing alerts, and the
    oldest firing alert nobody has acknowledged."""
    rows = await (await conn.execute(
        "SELECT severity, CASE WHEN state = 'resolved' THEN 'resolved' WHEN acknowledged THEN 'acknowledged'"
        " ELSE 'firing' END, count(*), count(*) FILTER (WHERE state = 'firing' AND silenced_by IS NOT NULL),"
        " count(*) FILTER (WHERE state = 'firing' AND flapping) FROM alerts GROUP BY 1, 2")).fetchall()
    states = ("firing", "acknowledged", "resolved")
    by_state = dict.fromkeys(states, 0)
    by_severity = {s.value: dict.fromkeys(states, 0) for s in Severity}
    silenced = flapping = 0
    for severity, state, count, quiet, flaps in rows:
        by_state[state] += count
        by_severity.setdefault(severity, dict.fromkeys(states, 0))[state] += count
        silenced, flapping = silenced + quiet, flapping + flaps
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(ALERT_COLUMNS + " WHERE state = 'firing' AND NOT acknowledged ORDER BY raised_at, alert_id"
                          " LIMIT 1")
        oldest = await cur.fetchone()
    return Summary(by_state=by_state, by_severity=by_severity, silenced=silenced, flapping=flapping,
                   oldest_unacknowledged=to_alert(oldest) if oldest else None)


@router.post("/", response_model=Accepted | AlertOut, status_code=202,
             responses={201: {"model": AlertOut, "description": "with ?wait=true: the raised alert"}})
async def raise_alert(body: ManualAlertIn, request: Request, response: Response, pool: Pool, producer: Producer,
                      principal: CurrentPrincipal, settings: SettingsDep, wait: bool = False) -> Accepted | AlertOut:
    """A manual or system-wide alert (subject 'system'), identified by its subject and labels: alerts with other
    labels are other alerts, both firing; the same subject and labels again while it fires is refused (409 with
    ?wait=true)."""
    fp = fingerprint(None, body.subject, body.labels)
    event = commands.raise_manual(AlertRaiseRequested(
        fingerprint=fp, at=utc_now(), by=principal.name, subject=body.subject, severity=body.severity,
        summary=body.summary, labels=body.labels), actor=principal.actor, correlation_id=request.state.request_id)
    accepted = await emit(request, response, producer, [event], location=f"/api/alerts/?fingerprint={fp}")
    if not wait:
        return accepted
    return await decided(pool, response, event, accepted, None, settings.consistency_timeout_s, created=True)


@router.post("/acknowledge-all", response_model=AcknowledgedAll, status_code=202,
             responses={200: {"model": AcknowledgedAll, "description": "no alert matched: nothing to do"}})
async def acknowledge_all(body: AcknowledgeAllIn, request: Request, response: Response, pool: Pool,
                          producer: Producer, principal: CurrentPrincipal) -> AcknowledgedAll:
    """Acknowledge every firing, unacknowledged alert matching the filter (up to 1,000): one request, and so one
    AlertAcknowledged, per alert."""
    until = ack_until(body.until)
    where = where_of(body.filter, "firing")
    async with pool.connection() as conn:
        rows = await (await conn.execute(sql.SQL("SELECT alert_id, fingerprint FROM alerts") + where.sql()
                                         + sql.SQL(" ORDER BY raised_at LIMIT 1000"), where.params)).fetchall()
    events = [commands.acknowledge(alert_id, fp, principal.name, body.note, until, actor=principal.actor,
                                   correlation_id=request.state.request_id) for alert_id, fp in rows]
    accepted = await emit(request, response, producer, events)
    if not events:
        response.status_code = 200
    return AcknowledgedAll(accepted=len(events), alert_ids=[r[0] for r in rows],
                           consistency_token=accepted.consistency_token)


@router.get("/{alert_id}", response_model=AlertWithHistory, dependencies=[Consistent])
async def get_alert(alert_id: uuid.UUID, conn: DbConn) -> AlertWithHistory:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(ALERT_COLUMNS + " WHERE alert_id = %s", (alert_id,))
        row = await cur.fetchone()
        if row is None:
            raise Problem(404, f"No alert {alert_id}.")
        await cur.execute(HISTORY, (alert_id,))
        history = [HistoryEntry(**h) for h in await cur.fetchall()]
        root = None
        if row["suppressed_by"] is not None:
            await cur.execute(ALERT_COLUMNS + " WHERE alert_id = %s", (row["suppressed_by"],))
            root = await cur.fetchone()
        await cur.execute(ALERT_COLUMNS + " WHERE suppressed_by = %s AND state = 'firing' ORDER BY raised_at, alert_id",
                          (alert_id,))
        symptoms = [to_alert(s) for s in await cur.fetchall()]
    return AlertWithHistory(**to_alert(row).model_dump(), history=history, root=to_alert(root) if root else None,
                            symptoms=symptoms)


async def firing(pool: Pool, alert_id: uuid.UUID) -> dict[str, Any]:
    row = await load_alert(pool, alert_id)
    if row is None:
        raise Problem(404, f"No alert {alert_id}.")
    if row["state"] != "firing":
        raise Problem(409, f"Alert {alert_id} has resolved; there is nothing to acknowledge or resolve.")
    return row


@router.post("/{alert_id}/acknowledge", response_model=Accepted | AlertOut, status_code=202, responses=WAITED)
async def acknowledge(alert_id: uuid.UUID, body: AcknowledgeIn, request: Request, response: Response, pool: Pool,
                      producer: Producer, principal: CurrentPrincipal, settings: SettingsDep,
                      wait: bool = False) -> Accepted | AlertOut:
    """Acknowledge a firing alert with a note until an expiry (24 h by default); if it still fires then, it is
    unacknowledged (AlertUnacknowledged) and shown again."""
    row = await firing(pool, alert_id)
    event = commands.acknowledge(alert_id, row["fingerprint"], principal.name, body.note, ack_until(body.until),
                                 actor=principal.actor, correlation_id=request.state.request_id)
    accepted = await emit(request, response, producer, [event], location=f"/api/alerts/{alert_id}")
    if not wait:
        return accepted
    return await decided(pool, response, event, accepted, alert_id, settings.consistency_timeout_s)


@router.post("/{alert_id}/resolve", response_model=Accepted | AlertOut, status_code=202, responses=WAITED)
async def resolve(alert_id: uuid.UUID, request: Request, response: Response, pool: Pool, producer: Producer,
                  principal: CurrentPrincipal, settings: SettingsDep, wait: bool = False) -> Accepted | AlertOut:
    """Resolve a firing alert by hand (reason `manual`); how manual alerts end. A rule alert whose condition
    still holds is raised again by its next observation."""
    row = await firing(pool, alert_id)
    event = commands.resolve(alert_id, row["fingerprint"], principal.name, actor=principal.actor,
                             correlation_id=request.state.request_id)
    accepted = await emit(request, response, producer, [event], location=f"/api/alerts/{alert_id}")
    if not wait:
        return accepted
    return await decided(pool, response, event, accepted, alert_id, settings.consistency_timeout_s)
