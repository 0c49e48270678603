"""Audit: every command (and every change to identity) as an event, without secrets."""

from __future__ import annotations

from pydantic import Field

from schemas.envelope import Payload


class AuditRecorded(Payload):
    """A command was attempted: who, in which role, what, on which subject, from where, and how it ended."""

    actor: str | None = Field(default=None, max_length=100)
    actor_name: str | None = Field(default=None, max_length=100)
    role: str | None = Field(default=None, max_length=20)
    action: str = Field(max_length=200, description="METHOD and route template, e.g. 'PUT /api/ingress/{reading_id}'")
    subject: str | None = Field(default=None, max_length=400)
    outcome: str = Field(pattern="^(succeeded|refused|denied|failed)$")
    status: int = Field(ge=100, le=599)
    client: str | None = Field(default=None, max_length=100)
    request_id: str | None = Field(default=None, max_length=64)
