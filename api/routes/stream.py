"""Live push: `GET /api/stream` (Server-Sent Events) and `WS /ws`, the archive's events as they are committed.

Both take the same filters (topics, subjects, types) and the same resume point (the last `seq` received), are
authorised topic by topic like the REST reads those topics feed (rules.TOPIC_READ), and read from the process's
one fan-out (api.live.Hub).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Header, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.identity.principal import CurrentPrincipal, address_of, authenticate_limited, credentials, permits
from api.identity.rules import RULES
from api.live import Hub, Pushed, backfill
from api.live_filters import StreamFilter, authorised_filter
from api.live_guard import Guard, StreamEnded
from api.problems import Problem

router = APIRouter(tags=["live"])
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
SUBSCRIBE_TIMEOUT_S = 10
HEARTBEAT = '{"type":"heartbeat"}'
Names = Annotated[list[str] | None, Query(max_length=200)]


def parse_last_event_id(header: str | None, query: int | None) -> int | None:
    if header is not None and header.strip():
        if not header.strip().isdigit() or len(header.strip()) > 19:
            raise Problem(400, "Last-Event-ID must be the `id` of an event this stream sent (a non-negative integer).")
        return int(header.strip())
    return query


async def events_after(hub: Hub, wanted: StreamFilter, after: int | None, heartbeat_s: float,
                       guard: Guard, owner: str) -> AsyncIterator[Pushed | None]:
    """None once subscribed (everything committed from then on will follow), then the filtered events after
    `after` still in the archive, then live ones, with None as a heartbeat after `heartbeat_s` of quiet.

    Ends when the client fell behind (its queue overflowed): it then resumes from the last seq it received; raises
    StreamEnded when the guard finds the credential gone or narrowed."""
    subscription, upto = hub.subscribe(wanted.accepts, owner)
    try:
        yield None
        if after is not None:
            async for item in backfill(hub.pool, wanted.where, wanted.params, after, upto):
                if wanted.accepts(item):
                    yield item
        quiet_since = time.monotonic()
        while True:
            if subscription.overflowed and subscription.queue.empty():
                return
            await guard.check()
            try:
                yield await asyncio.wait_for(subscription.queue.get(), min(heartbeat_s, guard.every_s))
                quiet_since = time.monotonic()
            except TimeoutError:
                if time.monotonic() - quiet_since >= heartbeat_s:
                    yield None
                    quiet_since = time.monotonic()
    finally:
        hub.unsubscribe(subscription)


async def ready_hub(hub: Hub, owner: str, per_owner: int) -> None:
    if hub.full:
        raise Problem(503, "Too many live clients on this API process; retry later.", headers={"Retry-After": "5"})
    if hub.owned(owner) >= per_owner:
        raise Problem(429, f"At most {per_owner} live streams per user or key; close one first.",
                      headers={"Retry-After": "5"}, title="Too Many Requests")
    if not await hub.ready():
        raise Problem(503, "Live push is not ready yet (no database connection); retry later.",
                      headers={"Retry-After": "2"})


@router.get(
    "/api/stream",
    response_class=StreamingResponse,
    responses={200: {"description": "`text/event-stream`: one `message` per archived event (`id:` = its seq, "
                                    "`data:` = {seq, topic, type, subject, consistency_token, event}); comments as "
                                    "heartbeats", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
               503: {"description": "too many live clients, or the live feed is not ready"}},
)
async def stream(
    request: Request,
    principal: CurrentPrincipal,
    topic: Names = None,
    subject: Names = None,
    type: Names = None,  # noqa: A002 - the API's word
    last_event_id: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID", max_length=40)] = None,
) -> StreamingResponse:
    """Server-Sent Events: the archived events of the topics you may read, as they are committed. Reconnect with
    `Last-Event-ID` (EventSource does) or `?last_event_id=` to get every event after it that is still archived."""
    wanted = authorised_filter(principal, topic, subject, type)
    after = parse_last_event_id(last_event_id_header, last_event_id)
    hub: Hub = request.app.state.hub
    settings = request.app.state.settings
    await ready_hub(hub, principal.actor, settings.stream_max_per_principal)
    guard = Guard(request.app, credentials(request) or "", wanted, (topic, subject, type), settings.stream_recheck_s)

    async def frames() -> AsyncIterator[bytes]:
        live = b"retry: 2000\n: live\n\n"  # the first bytes, sent once subscribed
        try:
            async for item in events_after(hub, wanted, after, settings.stream_heartbeat_s, guard, principal.actor):
                if item is None:
                    yield live
                    live = b": heartbeat\n\n"
                else:
                    yield b"id: %d\ndata: %s\n\n" % (item.seq, item.message)
        except StreamEnded as ended:  # the credential ended or narrowed: say why, then end the stream
            problem = {"status": ended.problem.status, "title": ended.problem.title, "detail": ended.problem.detail}
            yield b"event: error\ndata: %s\n\n" % orjson.dumps(problem)

    return StreamingResponse(frames(), media_type="text/event-stream", headers=SSE_HEADERS)


class Subscribe(BaseModel):
    """The first message on /ws: what to receive, from where, and (for browsers, which cannot set headers on a
    WebSocket) the access token or API key."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["subscribe"]
    token: str | None = Field(default=None, max_length=4096)
    topics: list[str] = Field(default_factory=list, max_length=50)
    subjects: list[str] = Field(default_factory=list, max_length=50)
    types: list[str] = Field(default_factory=list, max_length=50)
    after: int | None = Field(default=None, ge=0, le=2**63 - 1)


async def subscribe_socket(websocket: WebSocket) -> tuple[Subscribe, StreamFilter, Guard, str]:
    """Read and authorise the subscribe message; Problem for anything refused."""
    try:
        text = await asyncio.wait_for(websocket.receive_text(), SUBSCRIBE_TIMEOUT_S)
        asked = Subscribe.model_validate_json(text)
    except TimeoutError as e:
        raise Problem(408, f"Send a subscribe message within {SUBSCRIBE_TIMEOUT_S} s.") from e
    except KeyError as e:  # a binary frame: Starlette's receive_text finds no text
        raise Problem(400, "The subscribe message must be a JSON text frame.") from e
    except ValidationError as e:
        raise Problem(400, "The first message must be {\"type\": \"subscribe\", \"token\", \"topics\", "
                           f"\"subjects\", \"types\", \"after\"}}: {e.error_count()} error(s).") from e
    secret = credentials(websocket) or asked.token
    if not secret:
        raise Problem(401, "Sign in: send `Authorization: Bearer <token>` or `token` in the subscribe message.")
    principal = await authenticate_limited(websocket.app, secret, address_of(websocket))
    settings = websocket.app.state.settings
    await websocket.app.state.limiter.hit(settings.client_rate, "client", principal.actor)
    if not permits(principal, RULES[("WS", "/ws")]):
        raise Problem(403, "You are not allowed to do this.")
    wanted = authorised_filter(principal, asked.topics, asked.subjects, asked.types)
    await ready_hub(websocket.app.state.hub, principal.actor, settings.stream_max_per_principal)
    guard = Guard(websocket.app, secret, wanted, (asked.topics, asked.subjects, asked.types),
                  settings.stream_recheck_s)
    return asked, wanted, guard, principal.actor


async def refuse(websocket: WebSocket, problem: Problem) -> None:
    """An error message, then close code 4000 + the HTTP status the same refusal gets on /api/stream (4401, 4403,
    4400, 4429, 4503 ...)."""
    await websocket.send_text(orjson.dumps({"type": "error", "status": problem.status, "title": problem.title,
                                            "detail": problem.detail}).decode())
    await websocket.close(4000 + problem.status, problem.title)


async def live_socket(websocket: WebSocket) -> None:
    """WS /ws: the same events as /api/stream, as JSON text messages (registered in api.app, outside OpenAPI)."""
    await websocket.accept()
    hub: Hub = websocket.app.state.hub
    try:
        await websocket.app.state.limiter.hit(websocket.app.state.settings.address_rate, "address",
                                              address_of(websocket))
        asked, wanted, guard, owner = await subscribe_socket(websocket)
    except WebSocketDisconnect:
        return
    except Problem as e:
        await refuse(websocket, e)
        return
    heartbeat_s = websocket.app.state.settings.stream_heartbeat_s
    subscribed = orjson.dumps({"type": "subscribed", "topics": sorted(wanted.topics), "after": asked.after}).decode()

    async def pump() -> None:
        first = subscribed  # sent once subscribed: everything committed from then on follows
        try:
            async for item in events_after(hub, wanted, asked.after, heartbeat_s, guard, owner):
                if item is None:
                    await websocket.send_text(first)
                    first = HEARTBEAT
                else:
                    await websocket.send_text('{"type":"event","data":' + item.message.decode() + "}")
        except StreamEnded as ended:  # the credential ended or narrowed
            await refuse(websocket, ended.problem)
            return
        await websocket.close(1013, "too slow: reconnect with after = the last seq received")

    async def drain() -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()  # nothing more is expected; this notices the client leaving

    tasks = [asyncio.create_task(pump()), asyncio.create_task(drain())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
