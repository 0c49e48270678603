"""API keys for machines (scanners, pollers): scoped, stored hashed, shown once, rotated with an overlap."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from api.deps import Pool
from api.fields import Int
from api.identity import store
from api.identity.principal import CurrentPrincipal
from api.identity.rules import SCOPES
from api.problems import Problem
from api.text import Text
from schemas.envelope import json_number

router = APIRouter(prefix="/api/auth/api-keys", tags=["auth"])
Scope = Annotated[str, Field(pattern="^(" + "|".join(SCOPES) + ")$")]


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(min_length=1, max_length=len(SCOPES))
    # bounds before the validator, inside the optional: so the document keeps them
    expires_in_days: Annotated[int, Field(ge=1, le=3650), BeforeValidator(json_number)] | None = None


class Rotation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    overlap_seconds: Int = Field(default=24 * 3600, ge=0, le=30 * 24 * 3600,
                                 description="how long the old key keeps working")


class KeyOut(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_by: uuid.UUID
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    rotated_from: uuid.UUID | None


class KeyCreated(KeyOut):
    key: str = Field(description="shown once; store it now")


def created(key: str, row: dict[str, Any]) -> KeyCreated:
    return KeyCreated(key=key, **row)


@router.post("", response_model=KeyCreated, status_code=201)
async def create_key(body: NewKey, principal: CurrentPrincipal, pool: Pool, request: Request,
                     response: Response) -> KeyCreated:
    expires = datetime.now(UTC) + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    async with pool.connection() as conn:
        key, row = await store.create_api_key(conn, body.name, sorted(set(body.scopes)), principal.id, expires)
    request.state.audit_subject = str(row["id"])
    response.headers["Cache-Control"] = "no-store"
    return created(key, row)


@router.get("", response_model=list[KeyOut])
async def list_keys(pool: Pool) -> list[KeyOut]:
    async with pool.connection() as conn:
        return [KeyOut(**row) for row in await store.list_api_keys(conn)]


@router.delete("/{key_id}", status_code=204, response_class=Response)
async def revoke_key(key_id: uuid.UUID, pool: Pool) -> Response:
    async with pool.connection() as conn:
        if not await store.revoke_api_key(conn, key_id):
            raise Problem(404, f"No API key {key_id}.")
    return Response(status_code=204)


@router.post("/{key_id}/rotate", response_model=KeyCreated, status_code=201)
async def rotate_key(key_id: uuid.UUID, principal: CurrentPrincipal, pool: Pool, request: Request, response: Response,
                     body: Rotation | None = None) -> KeyCreated:
    """A new key with the same name and scopes; the old one keeps working for the overlap, then expires."""
    overlap = (body or Rotation()).overlap_seconds
    async with pool.connection() as conn, conn.transaction():
        old = await store.api_key(conn, key_id)
        if old is None:
            raise Problem(404, f"No API key {key_id}.")
        if old["revoked_at"] is not None or (old["expires_at"] and old["expires_at"] <= datetime.now(UTC)):
            raise Problem(409, "That key is revoked or expired; create a new one.")
        key, row = await store.create_api_key(conn, old["name"], old["scopes"], principal.id, old["expires_at"],
                                              rotated_from=key_id)
        await store.expire_api_key(conn, key_id, datetime.now(UTC) + timedelta(seconds=overlap))
    request.state.audit_subject = f"{key_id}->{row['id']}"
    response.headers["Cache-Control"] = "no-store"
    return created(key, row)
