"""Overview: alerts by severity and state, devices up/down, cameras, cylinders by state, the worst ingress nodes;
every number links to its list."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.console.client import Api, gather
from api.console.render import can

from .common import ApiDep, show

router = APIRouter(include_in_schema=False)
CYLINDER_STATES = ("available", "sent", "returned", "in_refill")
SEVERITIES = ("critical", "high", "medium", "low", "info")


async def cylinder_counts(api: Api) -> dict[str, Any] | None:
    """Admins have the inventory report; everyone else gets counts from the list (capped at its page size)."""
    inventory = await api.maybe("/api/admin/inventory")
    if inventory is not None:
        return {c["key"]: c["count"] for c in inventory["by_status"]}
    pages = await gather(*(api.maybe("/api/cylinders", status=s, limit=500) for s in CYLINDER_STATES))
    if all(p is None for p in pages):
        return None
    return {s: len(p["items"]) for s, p in zip(CYLINDER_STATES, pages, strict=True) if p is not None}


async def worst_nodes(api: Api, days: int = 7, top: int = 5) -> list[tuple[str, int]] | None:
    since = (datetime.now(UTC) - timedelta(days=days)).isoformat()
    found = await api.maybe("/api/ingress", exceeded="true", submitted_from=since, limit=500)
    if found is None:
        return None
    return Counter(r["node_id"] for r in found["items"]).most_common(top)


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request, api: ApiDep) -> HTMLResponse:
    principal = request.state.principal
    summary, devices, cameras, cylinders, nodes = await gather(
        api.maybe("/api/alerts/summary"), api.maybe("/api/devices/status"), api.maybe("/api/cameras/"),
        cylinder_counts(api), worst_nodes(api) if can(principal, "GET", "/api/ingress") else _none())
    camera_counts = Counter(c["status"] for c in cameras) if cameras is not None else None
    return show(request, "overview.html", summary=summary, devices=devices, cameras=camera_counts,
                cylinders=cylinders, nodes=nodes, severities=SEVERITIES, cylinder_states=CYLINDER_STATES)


async def _none() -> None:
    return None
