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
    loaders = {
        "alerts": lambda: api.maybe("/api/alerts/summary"),
        "devices": lambda: api.maybe("/api/devices/status"),
        "cameras": lambda: camera_counts(api),
        "cylinders": lambda: cylinder_counts(api),
        "nodes": lambda: worst_nodes(api) if can(principal, "GET", "/api/ingress") else _none(),
    }
    # a live update re-renders one panel: load only what that panel shows
    fragment = request.query_params.get("fragment")
    wanted = [fragment] if fragment in loaders else list(loaders)
    found = dict(zip(wanted, await gather(*(loaders[name]() for name in wanted)), strict=True))
    return show(request, "overview.html", summary=found.get("alerts"), devices=found.get("devices"),
                cameras=found.get("cameras"), cylinders=found.get("cylinders"), nodes=found.get("nodes"),
                severities=SEVERITIES, cylinder_states=CYLINDER_STATES)


async def camera_counts(api: Api) -> Counter[str] | None:
    cameras = await api.maybe("/api/cameras/")
    return None if cameras is None else Counter(c["status"] for c in cameras)


async def _none() -> None:
    return None
