"""Silences and maintenance windows: label matchers, a start, a mandatory end, an optional daily/weekly window, and a
mode: `mute` (alerts are evaluated and shown, marked silenced, not notified) or `skip_evaluation` (matching
observations are not evaluated at all). Stored as events on alerts.rules, which every processor worker reads."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.commands import Accepted, emit
from api.deps import DbConn, Pool, Producer
from api.fields import Instant
from api.filters import Where
from api.identity.principal import CurrentPrincipal
from api.problems import Problem
from api.routes.alerts.reads import Consistent
from api.text import Text
from producers.alerts import commands
from schemas.alerts.silences import Matcher, Recurrence, SilenceCreated
from schemas.envelope import utc_now

router = APIRouter(prefix="/api/silences", tags=["alerts"])
SELECT = ("SELECT silence_id, matchers, starts_at, ends_at, recurrence, mode, created_by, comment, created_at,"
          " ended_at, ended_by, end_reason FROM alert_silences")


class SilenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    matchers: list[Matcher] = Field(min_length=1, max_length=20,
                                    description="label, op (=, !=, =~, !~), value; all must match")
    starts_at: Instant | None = Field(default=None, description="now by default")
    ends_at: Instant = Field(description="mandatory: every silence ends")
    recurrence: Recurrence | None = None
    mode: Literal["mute", "skip_evaluation"] = "mute"
    comment: Text = Field(default="", max_length=2000)


class SilenceOut(BaseModel):
    silence_id: uuid.UUID
    matchers: list[dict[str, Any]]
    starts_at: datetime
    ends_at: datetime
    recurrence: dict[str, Any] | None
    mode: str
    created_by: str
    comment: str
    created_at: datetime
    ended_at: datetime | None
    ended_by: str | None
    end_reason: str | None
    state: str  # pending, active, ended


def to_out(row: dict[str, Any]) -> SilenceOut:
    now = utc_now()
    ended = row["ended_at"] is not None or row["ends_at"] <= now
    state = "ended" if ended else "pending" if row["starts_at"] > now else "active"
    return SilenceOut(**row, state=state)


@router.get("", response_model=list[SilenceOut], dependencies=[Consistent])
async def list_silences(conn: DbConn, state: Annotated[Literal["open", "ended", "all"], Query(
        description="open: not ended yet (active or pending)")] = "open",
        limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[SilenceOut]:
    where = Where()
    if state == "open":
        where.add("ended_at IS NULL AND ends_at > now()")
    elif state == "ended":
        where.add("(ended_at IS NOT NULL OR ends_at <= now())")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql.SQL(SELECT) + where.sql() + sql.SQL(" ORDER BY starts_at DESC LIMIT %s"),
                          [*where.params, limit])
        return [to_out(r) for r in await cur.fetchall()]


@router.post("", response_model=Accepted, status_code=202)
async def create_silence(body: SilenceIn, request: Request, response: Response, producer: Producer,
                         principal: CurrentPrincipal) -> Accepted:
    now = utc_now()
    if body.ends_at <= now:
        raise Problem(422, "ends_at must be in the future.")
    try:
        silence = SilenceCreated(silence_id=uuid.uuid4(), matchers=tuple(body.matchers),
                                 starts_at=body.starts_at or now, ends_at=body.ends_at,
                                 recurrence=body.recurrence, mode=body.mode, created_by=principal.name,
                                 comment=body.comment)
    except ValidationError as e:
        raise Problem(422, "; ".join(str(err["msg"]) for err in e.errors(include_url=False))) from e
    event = commands.create_silence(silence, actor=principal.actor, correlation_id=request.state.request_id)
    return await emit(request, response, producer, [event], location=f"/api/silences/{silence.silence_id}")


@router.get("/{silence_id}", response_model=SilenceOut, dependencies=[Consistent])
async def get_silence(silence_id: uuid.UUID, conn: DbConn) -> SilenceOut:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(SELECT + " WHERE silence_id = %s", (silence_id,))
        row = await cur.fetchone()
    if row is None:
        raise Problem(404, f"No silence {silence_id}.")
    return to_out(row)


@router.delete("/{silence_id}", response_model=Accepted, status_code=202)
async def delete_silence(silence_id: uuid.UUID, request: Request, response: Response, pool: Pool,
                         producer: Producer, principal: CurrentPrincipal) -> Accepted:
    """End a silence now (alerts it covered are unsilenced)."""
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT ended_at, ends_at FROM alert_silences WHERE silence_id = %s",
                                        (silence_id,))).fetchone()
    if row is None:
        raise Problem(404, f"No silence {silence_id}.")
    if row[0] is not None or row[1] <= utc_now():
        raise Problem(409, f"Silence {silence_id} has already ended.")
    event = commands.delete_silence(silence_id, principal.name, actor=principal.actor,
                                    correlation_id=request.state.request_id)
    return await emit(request, response, producer, [event])
