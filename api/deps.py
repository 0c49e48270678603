"""Dependency aliases: the pool, the producer, settings, and the consistency wait every read can take."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Header, Query, Request
from psycopg_pool import AsyncConnectionPool
from pydantic import Field

from api.consistency import HEADER, Span, decode_token, wait_applied
from infra.outbox import Outbox
from infra.settings import Settings

TOKEN_PATTERN = r"^[A-Za-z0-9_-]*$"  # base64url
TOKEN_FORMAT = "opsledger-consistency-token"  # a token a command answered, not any base64url text
Token = Annotated[str, Field(max_length=20000, pattern=TOKEN_PATTERN, json_schema_extra={"format": TOKEN_FORMAT})]


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_pool(request: Request) -> AsyncConnectionPool:
    return request.app.state.pool


async def get_producer(request: Request) -> Outbox:
    return request.app.state.producer


async def get_conn(pool: Annotated[AsyncConnectionPool, Depends(get_pool)]) -> AsyncIterator[psycopg.AsyncConnection]:
    async with pool.connection() as conn:
        yield conn


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
Pool = Annotated[AsyncConnectionPool, Depends(get_pool)]
Producer = Annotated[Outbox, Depends(get_producer)]  # commands record events through the outbox
DbConn = Annotated[psycopg.AsyncConnection, Depends(get_conn)]


Settle = Callable[[AsyncConnectionPool, Sequence[Span], float], Awaitable[None]]


def consistent_with(projection: str, topics: tuple[str, ...],
                    settle: Settle | None = None) -> Callable[..., Coroutine[Any, Any, None]]:
    """A dependency that waits for a consistency token (header or ?after=) before the read runs; `settle` waits
    further, for what processors derive from the token's events."""

    async def wait(
        request: Request, pool: Pool, settings: SettingsDep,
        header: Annotated[Token | None, Header(alias=HEADER)] = None,
        after: Annotated[Token | None, Query(description="consistency token from a command's response")] = None,
    ) -> None:
        token = header or after
        if token:
            spans, started = decode_token(token), time.monotonic()
            await request.app.state.log_ends.check(spans)
            spans = await wait_applied(pool, projection, topics, spans, settings.consistency_timeout_s)
            if settle is not None:
                await settle(pool, spans, max(0.0, settings.consistency_timeout_s - (time.monotonic() - started)))

    return wait
