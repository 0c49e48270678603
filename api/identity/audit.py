"""Every command becomes an AuditRecorded event: who, role, what, subject, when, client, request id, outcome."""

from __future__ import annotations

from typing import Any

import structlog
from starlette.types import Scope

from schemas.catalog import REGISTRY
from schemas.identity.events import AuditRecorded

log = structlog.get_logger(__name__)
COMMANDS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def outcome_of(status: int) -> str:
    if status < 400:
        return "succeeded"
    if status in (401, 403):
        return "denied"
    return "failed" if status >= 500 else "refused"


def audit_event(scope: Scope, status: int, client: str | None) -> Any:
    state = scope.get("state", {})
    principal = state.get("principal")
    route = scope.get("route")
    params = scope.get("path_params") or {}
    subject = state.get("audit_subject") or ",".join(str(v) for v in params.values()) or None
    data = AuditRecorded(
        actor=principal.actor if principal else None, actor_name=principal.name if principal else None,
        role=(principal.role or "api-key") if principal else None,
        action=f"{scope['method']} {getattr(route, 'path', scope['path'])}"[:200], subject=str(subject)[:400]
        if subject else None, outcome=outcome_of(status), status=status, client=client,
        request_id=state.get("request_id"),
    )
    return REGISTRY.event(data, source="api.audit", subject=data.actor or "anonymous",
                          actor=data.actor, correlation_id=data.request_id)


async def record(scope: Scope, status: int, client: str | None) -> None:
    if scope["method"] not in COMMANDS or not scope["path"].startswith("/api/"):
        return
    if status in (404, 405) and scope.get("state", {}).get("principal") is None:
        return  # nobody asked for nothing: an anonymous miss is noise (and cheap to send by the million)
    producer = getattr(scope["app"].state, "producer", None)
    if producer is None:
        return
    try:
        await producer.append([audit_event(scope, status, client)])  # durable; produced by the relay
    except Exception as e:  # an audit failure is logged loudly but never turns a done command into an error
        log.error("audit.not_recorded", error=str(e), path=scope["path"], status=status)
