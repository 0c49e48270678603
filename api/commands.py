"""The one seam every command route goes through: emit the events, answer 202 with where they landed (a consistency
token), and with ?wait=true wait for the read model and answer the resource as stored — or 409/412 when another
change won the race. Also the If-Match/ETag helpers of optimistic concurrency."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Header, Request, Response
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from api.consistency import HEADER, decode_token, encode_token, wait_applied
from api.problems import Problem
from infra.outbox import Outbox, Receipt
from infra.settings import Settings
from schemas.envelope import Envelope

ETAG = re.compile(r'^(?:W/)?"?([0-9]{1,9})"?$')
# If-Match as the document declares it: the pattern of an ETag this API hands out. Where it is required, a request
# without it is 428 Precondition Required (RFC 6585), see api.problems.
IfMatch = Annotated[str | None, Header(pattern=ETAG.pattern, description='the ETag you read, e.g. "3"')]
RequiredIfMatch = Annotated[str, Header(pattern=ETAG.pattern, description='the ETag you read, e.g. "3"')]
Row = dict[str, Any]


class Accepted(BaseModel):
    """A command was accepted: its events are in the log. Pass `consistency_token` to reads (header
    Opsledger-Consistency or ?after=) to see their effect."""

    event_id: uuid.UUID | None  # the first (usually the only) event
    event_ids: list[uuid.UUID]
    subject: str | None = None
    consistency_token: str | None
    location: str | None = None
    queued: bool = False  # recorded durably, not yet in the event log (the broker is away): it will be


async def emit(request: Request, response: Response, producer: Outbox, events: Sequence[Envelope],
               location: str | None = None) -> Accepted:
    """Record the events (the outbox: durable once this returns) and answer 202 with their consistency token (also
    as a header) and the subject for the audit. A token names broker positions, or outbox rows still queued."""
    receipt = await producer.emit_many(events) if events else Receipt([])
    token = encode_token(receipt.positions, receipt.queued) if events else None
    if token:
        response.headers[HEADER] = token
    if location:
        response.headers["Location"] = location
    response.status_code = 202
    subject = events[0].subject if len(events) == 1 else None
    if subject:
        request.state.audit_subject = subject
    return Accepted(event_id=events[0].event_id if events else None, event_ids=[e.event_id for e in events],
                    consistency_token=token, subject=subject, location=location, queued=bool(receipt.queued))


@dataclass(frozen=True)
class Versioned:
    """A resource kept as versioned events (devices, cameras, alert rules): its read-model row by id, 404 when it is
    missing or gone (`gone` names the row's flag for a deleted resource)."""

    what: str  # "device", in messages
    select: str  # the row's SELECT, ending in "WHERE <id column> = %s"
    gone: str

    async def load(self, pool: AsyncConnectionPool, key: str) -> Row | None:
        async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(self.select, (key,))
            return await cur.fetchone()

    async def current(self, pool: AsyncConnectionPool, key: object) -> Row:
        row = await self.load(pool, str(key))
        if row is None or row[self.gone]:
            raise Problem(404, f"No {self.what} {key}.")
        return row


Out = TypeVar("Out", bound=BaseModel)


@dataclass(frozen=True)
class ReadBack(Generic[Out]):
    """How ?wait=true reads a resource back after its event was projected.

    `load` reads the row by subject (None: absent), `render` makes the response, `gone` names the row's flag for a
    deleted resource (answered 200 with `gone_answer`), and the row's `last_event_id` tells whether this command's
    event is the one that was applied."""

    projection: str
    topics: tuple[str, ...]
    load: Callable[[AsyncConnectionPool, str], Awaitable[Row | None]]
    render: Callable[[Row], Out]
    gone: str
    gone_answer: Literal["accepted", "resource"] = "accepted"
    created_status: int = 201
    updated_status: int = 200
    conflict_on_create: int = 409  # a create that lost: someone else took the id first


async def saved(request: Request, response: Response, pool: AsyncConnectionPool, settings: Settings,
                producer: Outbox, event: Envelope, read: ReadBack[Out], *, wait: bool, created: bool,
                location: str) -> Accepted | Out:
    """Emit one event about a resource; with `wait`, answer the resource as its read model holds it."""
    accepted = await emit(request, response, producer, [event], location=location)
    if not wait or accepted.consistency_token is None:
        return accepted
    await wait_applied(pool, read.projection, read.topics, decode_token(accepted.consistency_token),
                       settings.consistency_timeout_s)
    row = await read.load(pool, event.subject)
    if row is None or row["last_event_id"] != event.event_id:
        raise Problem(read.conflict_on_create if created else 412,
                      "Another change to this resource was applied first; read it again and retry.")
    response.headers["ETag"] = f'"{row["version"]}"'
    if row[read.gone]:
        response.status_code = 200
        return accepted if read.gone_answer == "accepted" else read.render(row)
    response.status_code = read.created_status if created else read.updated_status
    return read.render(row)


def if_match_version(if_match: str | None, required: bool) -> int | None:
    """The version an If-Match header names; 428 when it is required and missing, 400 when it is not an ETag."""
    if if_match is None:
        if required:
            raise Problem(428, "Send If-Match with the ETag (version) you read, so concurrent edits are detected.")
        return None
    found = ETAG.match(if_match.strip())
    if not found:
        raise Problem(400, "If-Match must be the ETag you read, e.g. \"3\".")
    return int(found.group(1))


def check_version(current: int, seen: int | None, what: str) -> None:
    """412 when the caller read another version than the current one."""
    if seen is not None and current != seen:
        raise Problem(412, f"The {what} is at version {current}, not {seen}; read it again.", current_version=current)
