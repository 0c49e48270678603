"""Admin: users and roles, API keys (the key shown once), alert rules, and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.identity.rules import ROLES, SCOPES

from .common import ApiDep, show

router = APIRouter(include_in_schema=False)
RULE_EXAMPLE = """{
  "name": "Ingress over its limit",
  "severity": "high",
  "params": {"kind": "ingress_over_limit"}
}"""


@router.get("/admin", response_class=HTMLResponse)
async def users(request: Request, api: ApiDep) -> HTMLResponse:
    return show(request, "admin_users.html", users=await api.get("/api/auth/users", limit=500), roles=ROLES)


@router.get("/admin/keys", response_class=HTMLResponse)
async def keys(request: Request, api: ApiDep) -> HTMLResponse:
    return show(request, "admin_keys.html", keys=await api.get("/api/auth/api-keys"), scopes=SCOPES)


@router.get("/admin/rules", response_class=HTMLResponse)
async def rules(request: Request, api: ApiDep) -> HTMLResponse:
    return show(request, "admin_rules.html", rules=await api.get("/api/alerts/rules"), example=RULE_EXAMPLE)


@router.get("/admin/audit", response_class=HTMLResponse)
async def audit(request: Request, api: ApiDep, actor: Annotated[str | None, Query(max_length=100)] = None,
                action: Annotated[str | None, Query(max_length=200)] = None,
                outcome: Annotated[str | None, Query(max_length=20)] = None) -> HTMLResponse:
    chosen = outcome if outcome in ("succeeded", "refused", "denied", "failed") else None
    page = await api.get("/api/audit", actor=actor, action=action, outcome=chosen, limit=200)
    return show(request, "admin_audit.html", entries=page["items"], actor=actor or "", action=action or "",
                outcome=chosen)
