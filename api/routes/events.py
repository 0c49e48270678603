"""The archived event history, for analysts: filter, page, fetch one."""

from __future__ import annotations

import base64
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel

from api.deps import DbConn, consistent_with
from api.fields import Instant
from api.filters import Where
from api.identity.principal import CurrentPrincipal, Principal
from api.live_filters import hidden_types, readable_topics, reads_everything
from api.paging import Cursor, decode_cursor, encode_cursor
from api.problems import Problem
from schemas.catalog import all_topics

router = APIRouter(prefix="/api/events", tags=["events"])
Consistent = Depends(consistent_with("archive", tuple(all_topics())))
SELECT = sql.SQL('SELECT seq, topic, partition, "offset", timestamp_ms, value, headers, event_id, type, subject,'
                 " recorded_at, envelope FROM event_archive a")
# at-least-once: an event recorded twice (a retried send, an outbox row sent again) is listed once, at its first copy
FIRST_COPY = ("(a.event_id IS NULL OR NOT EXISTS (SELECT 1 FROM event_archive b WHERE b.event_id = a.event_id"
              " AND b.seq < a.seq))")


class ArchivedEvent(BaseModel):
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    event_id: uuid.UUID | None
    type: str | None
    subject: str | None
    envelope: dict[str, Any] | None
    headers: dict[str, str] | None
    raw_base64: str | None = None  # only for records that are not events (dead letters of malformed bytes)


class EventPage(BaseModel):
    items: list[ArchivedEvent]
    next_cursor: str | None


def to_event(row: dict[str, Any]) -> ArchivedEvent:
    raw = None if row["value"] is None else base64.b64encode(row["value"]).decode()
    return ArchivedEvent(**{k: row[k] for k in ("topic", "partition", "offset", "timestamp_ms", "event_id", "type",
                                                "subject", "envelope", "headers")}, raw_base64=raw)


def only_readable(where: Where, principal: Principal, topic: str | None, type_: str | None) -> None:
    """The archive holds every topic: narrow it to what this principal may read, by the same rules as live push
    (rules.TOPIC_READ, TYPE_READ). Asking for a topic or type outside them is 403, as on /api/stream."""
    if reads_everything(principal):
        return
    topics, hidden = readable_topics(principal), hidden_types(principal)
    refused = (topic is not None and topic not in topics) or (type_ is not None and type_ in hidden)
    if refused or not topics:
        raise Problem(403, f"You may not read the events of {topic or type_ or 'any topic'!r} (the same rule as "
                           "its REST reads); an API key needs the read scope of the topic as well as events:read.")
    where.add("topic = ANY(%s)", sorted(topics))
    if hidden:
        where.add("(type IS NULL OR NOT type = ANY(%s))", sorted(hidden))


@router.get("", response_model=EventPage, dependencies=[Consistent])
async def list_events(
    conn: DbConn,
    principal: CurrentPrincipal,
    type: Annotated[str | None, Query(max_length=100)] = None,  # noqa: A002 - the API's word
    subject: Annotated[str | None, Query(max_length=200)] = None,
    topic: Annotated[str | None, Query(max_length=200)] = None,
    recorded_from: Instant | None = None,
    recorded_to: Instant | None = None,
    order: Literal["newest", "oldest"] = "newest",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Cursor | None = None,
) -> EventPage:
    where = Where(FIRST_COPY)
    only_readable(where, principal, topic, type)
    where.when(type, "type = %s")
    where.when(subject, "subject = %s")
    where.when(topic, "topic = %s")
    where.when(recorded_from, "recorded_at >= %s")
    where.when(recorded_to, "recorded_at < %s")
    if cursor:
        (after,) = decode_cursor(cursor, 1)
        if not isinstance(after, int) or isinstance(after, bool):
            raise Problem(400, "The cursor is not valid; use next_cursor from a previous page.")
        where.add("seq < %s" if order == "newest" else "seq > %s", after)
    direction = sql.SQL("DESC" if order == "newest" else "ASC")
    query = SELECT + where.sql() + sql.SQL(" ORDER BY seq {} LIMIT %s").format(direction)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, [*where.params, limit + 1])
        rows = await cur.fetchall()
    next_cursor = encode_cursor(rows[limit - 1]["seq"]) if len(rows) > limit else None
    return EventPage(items=[to_event(r) for r in rows[:limit]], next_cursor=next_cursor)


@router.get("/{event_id}", response_model=ArchivedEvent, dependencies=[Consistent])
async def get_event(event_id: uuid.UUID, conn: DbConn, principal: CurrentPrincipal) -> ArchivedEvent:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(SELECT + sql.SQL(" WHERE event_id = %s ORDER BY seq LIMIT 1"), (event_id,))
        row = await cur.fetchone()
    readable = row is not None and (reads_everything(principal) or (
        row["topic"] in readable_topics(principal) and row["type"] not in hidden_types(principal)))
    if row is None or not readable:  # what the caller may not read does not exist for it
        raise Problem(404, f"No archived event {event_id}.")
    return to_event(row)
