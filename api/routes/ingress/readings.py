"""RF-ingress readings: submit, list, read, correct (If-Match), retract, history."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import Field

from api.commands import Accepted, IfMatch, ReadBack, RequiredIfMatch, check_version, if_match_version, saved
from api.deps import DbConn, Pool, Producer, SettingsDep, consistent_with
from api.fields import Instant
from api.filters import Where
from api.identity.principal import CurrentPrincipal, Principal
from api.identity.rules import EDITS_ALL_READINGS, SEES_ALL_READINGS
from api.paging import Cursor, decode_cursor, encode_cursor
from api.problems import Problem
from api.routes.images.subjects import subject_images, version_at
from api.routes.ingress.models import HistoryEntry, IngressPage, IngressReadingOut, LimitVerdict
from producers.ingress.commands import correct_reading, retract_reading, submit_reading
from schemas.envelope import Envelope
from schemas.ingress.events import IngressReading, SplitPlan
from schemas.topics import INGRESS_EVALUATIONS, INGRESS_READINGS

router = APIRouter(prefix="/api/ingress", tags=["ingress"])
TOPICS = (INGRESS_READINGS, INGRESS_EVALUATIONS)
Consistent = Depends(consistent_with("ingress", TOPICS))
BAND = re.compile(r"^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$")

SELECT = sql.SQL("""
SELECT r.id, r.version, r.customer_name, r.address, r.node_id, r.level_dbmv, r.freq_start_mhz, r.freq_end_mhz,
       r.split_plan, r.test_point, r.home_connected, r.install_phase, r.technician, r.notes, r.attachments,
       r.submitted_at, r.submitted_by, r.updated_at, r.retracted, r.last_event_id,
       e.limit_dbmv, e.exceeded_by_db, e.limit_rule
FROM ingress_readings r
LEFT JOIN ingress_limit_exceeded e ON e.reading_id = r.id AND e.version = r.version
""")
HISTORY = ("SELECT event_id, version, type, occurred_at, actor, applied, envelope->'data' AS data"
           " FROM ingress_reading_history"
           " WHERE reading_id = %s ORDER BY version, occurred_at, event_id")


def like_substring(text: str) -> str:
    """A LIKE pattern matching `text` literally anywhere (backslash is LIKE's escape character)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class IngressReadingIn(IngressReading):
    """A reading as submitted: `technician` defaults to the caller (and is always the caller for workers)."""

    technician: str | None = Field(default=None, min_length=1, max_length=100)  # type: ignore[assignment]


def as_reading(body: IngressReadingIn, principal: Principal) -> IngressReading:
    technician = body.technician or principal.name
    if principal.kind == "user" and principal.role not in EDITS_ALL_READINGS:
        technician = principal.name
    return IngressReading.model_validate({**body.model_dump(), "technician": technician})


def to_out(row: dict[str, Any]) -> IngressReadingOut:
    verdict = None
    if row["limit_dbmv"] is not None:
        verdict = LimitVerdict(limit_dbmv=row["limit_dbmv"], exceeded_by_db=row["exceeded_by_db"],
                               limit_rule=row["limit_rule"])
    return IngressReadingOut(**{k: v for k, v in row.items() if k in IngressReadingOut.model_fields},
                             limit_exceeded=verdict)


def own_only(principal: Principal, roles: frozenset[str]) -> str | None:
    """The actor whose readings alone this caller may touch, or None when it may touch all."""
    if principal.kind == "user" and principal.role not in roles:
        return principal.actor
    return None


async def load(conn: DbConn, reading_id: uuid.UUID, principal: Principal,
               roles: frozenset[str] = SEES_ALL_READINGS) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(SELECT + sql.SQL(" WHERE r.id = %s"), (reading_id,))
        row = await cur.fetchone()
    owner = own_only(principal, roles)
    if row is None or (owner is not None and row["submitted_by"] != owner):  # others' readings do not exist here
        raise Problem(404, f"No ingress reading {reading_id}.")
    if row["retracted"]:
        raise Problem(410, f"Ingress reading {reading_id} was retracted; its history is kept.",
                      history=f"/api/ingress/{reading_id}/history")
    return row


async def load_row(pool: Pool, reading_id: str) -> dict[str, Any] | None:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(SELECT + sql.SQL(" WHERE r.id = %s"), (uuid.UUID(reading_id),))
        return await cur.fetchone()


# a retracted reading answers 200 with its last state; a correction, like a submission, 201
READ_BACK = ReadBack("ingress", TOPICS, load_row, to_out, gone="retracted", gone_answer="resource",
                     updated_status=201, conflict_on_create=412)


async def accepted(request: Request, response: Response, pool: Pool, settings: SettingsDep, producer: Producer,
                   event: Envelope, wait: bool) -> Accepted | IngressReadingOut:
    answer = await saved(request, response, pool, settings, producer, event, READ_BACK, wait=wait,
                         created=event.type == "IngressReadingSubmitted", location=f"/api/ingress/{event.subject}")
    assert isinstance(answer, Accepted | IngressReadingOut)
    return answer


@router.post("", response_model=Accepted | IngressReadingOut, status_code=202,
             responses={201: {"model": IngressReadingOut}})
async def submit(body: IngressReadingIn, request: Request, response: Response, pool: Pool, settings: SettingsDep,
                 producer: Producer, principal: CurrentPrincipal, wait: bool = False) -> Accepted | IngressReadingOut:
    event = submit_reading(as_reading(body, principal), actor=principal.actor, correlation_id=request.state.request_id)
    request.state.audit_subject = event.subject
    return await accepted(request, response, pool, settings, producer, event, wait)


@router.get("", response_model=IngressPage, dependencies=[Consistent])
async def list_readings(
    conn: DbConn,
    principal: CurrentPrincipal,
    node_id: Annotated[str | None, Query(max_length=64)] = None,
    band: Annotated[str | None, Query(description="START-END in MHz; readings overlapping it")] = None,
    split_plan: SplitPlan | None = None,
    level_min: Annotated[float | None, Query(ge=-100, le=100)] = None,
    level_max: Annotated[float | None, Query(ge=-100, le=100)] = None,
    submitted_from: Instant | None = None,
    submitted_to: Instant | None = None,
    customer: Annotated[str | None, Query(max_length=200, description="substring of the customer name")] = None,
    exceeded: bool | None = None,
    sort: Literal["submitted_at", "level_dbmv"] = "submitted_at",
    order: Literal["asc", "desc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Cursor | None = None,
) -> IngressPage:
    where = Where("NOT r.retracted")
    where.when(own_only(principal, SEES_ALL_READINGS), "r.submitted_by = %s")
    where.when(node_id, "r.node_id = %s")
    if band is not None:
        found = BAND.match(band)
        if not found or float(found.group(1)) >= float(found.group(2)):
            raise Problem(400, "band must be START-END in MHz with START < END, e.g. 5-42.")
        where.add("r.freq_start_mhz < %s AND r.freq_end_mhz > %s", float(found.group(2)), float(found.group(1)))
    where.when(split_plan.value if split_plan else None, "r.split_plan = %s")
    where.when(level_min, "r.level_dbmv >= %s")
    where.when(level_max, "r.level_dbmv <= %s")
    where.when(submitted_from, "r.submitted_at >= %s")
    where.when(submitted_to, "r.submitted_at < %s")
    where.when(like_substring(customer.lower()) if customer else None, "lower(r.customer_name) LIKE %s")
    if exceeded is not None:
        where.add("e.reading_id IS NOT NULL" if exceeded else "e.reading_id IS NULL")
    op = "<" if order == "desc" else ">"
    if cursor:
        key, last_id = decode_cursor(cursor, 2)
        try:
            value: Any = datetime.fromisoformat(key) if sort == "submitted_at" else float(key)
            where.add(f"(r.{sort}, r.id) {op} (%s, %s)", value, uuid.UUID(str(last_id)))
        except (TypeError, ValueError) as e:
            raise Problem(400, "The cursor does not fit this sort; start again without it.") from e
    direction = sql.SQL("DESC" if order == "desc" else "ASC")
    query = (SELECT + where.sql()
             + sql.SQL(" ORDER BY {col} {d}, r.id {d} LIMIT %s").format(col=sql.Identifier("r", sort), d=direction))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, [*where.params, limit + 1])
        rows = await cur.fetchall()
    items = [to_out(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor(getattr(last, sort).isoformat() if sort == "submitted_at" else last.level_dbmv,
                                    str(last.id))
    return IngressPage(items=items, next_cursor=next_cursor)


@router.get("/{reading_id}", response_model=IngressReadingOut, dependencies=[Consistent])
async def get_reading(reading_id: uuid.UUID, conn: DbConn, response: Response,
                      principal: CurrentPrincipal) -> IngressReadingOut:
    row = await load(conn, reading_id, principal)
    response.headers["ETag"] = f'"{row["version"]}"'
    return to_out(row)


@router.put("/{reading_id}", response_model=Accepted | IngressReadingOut, status_code=202,
            responses={201: {"model": IngressReadingOut}})
async def correct(reading_id: uuid.UUID, body: IngressReadingIn, request: Request, response: Response,
                  pool: Pool, settings: SettingsDep, producer: Producer, principal: CurrentPrincipal,
                  if_match: RequiredIfMatch, wait: bool = False) -> Accepted | IngressReadingOut:
    seen = if_match_version(if_match, required=True)
    async with pool.connection() as conn:
        current = await load(conn, reading_id, principal, EDITS_ALL_READINGS)
    check_version(current["version"], seen, "reading")
    event = correct_reading(reading_id, current["version"], as_reading(body, principal), actor=principal.actor,
                            correlation_id=request.state.request_id)
    return await accepted(request, response, pool, settings, producer, event, wait)


@router.delete("/{reading_id}", response_model=Accepted | IngressReadingOut, status_code=202,
               responses={200: {"model": IngressReadingOut, "description": "with ?wait=true: the retracted reading"}})
async def retract(reading_id: uuid.UUID, request: Request, response: Response, pool: Pool, settings: SettingsDep,
                  producer: Producer, principal: CurrentPrincipal, if_match: IfMatch = None,
                  reason: Annotated[str, Query(max_length=1000)] = "",
                  wait: bool = False) -> Accepted | IngressReadingOut:
    seen = if_match_version(if_match, required=False)
    async with pool.connection() as conn:
        current = await load(conn, reading_id, principal, EDITS_ALL_READINGS)
    check_version(current["version"], seen, "reading")
    event = retract_reading(reading_id, current["version"], reason, actor=principal.actor,
                            correlation_id=request.state.request_id)
    return await accepted(request, response, pool, settings, producer, event, wait)


@router.get("/{reading_id}/history", response_model=list[HistoryEntry], dependencies=[Consistent])
async def history(reading_id: uuid.UUID, conn: DbConn, principal: CurrentPrincipal) -> list[HistoryEntry]:
    owner = own_only(principal, SEES_ALL_READINGS)
    if owner is not None:
        found = await (await conn.execute("SELECT submitted_by FROM ingress_readings WHERE id = %s",
                                          (reading_id,))).fetchone()
        if found is None or found[0] != owner:
            raise Problem(404, f"No ingress reading {reading_id}.")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(HISTORY, (reading_id,))
        rows = await cur.fetchall()
    if not rows:
        raise Problem(404, f"No ingress reading {reading_id}.")
    changes = sorted((r["occurred_at"], r["version"]) for r in rows if r["applied"])
    images = [HistoryEntry(event_id=i["upload_id"], version=version_at(changes, i["at"]), type="ImageUploaded",
                           occurred_at=i["at"], actor=i["actor"], applied=True, data=i["data"])
              for i in await subject_images(conn, "ingress", str(reading_id))]
    return sorted([HistoryEntry(**r) for r in rows] + images, key=lambda e: (e.version, e.occurred_at))
