"""Events: the analysts' explorer over /api/events (type, subject, topic, time range) and the timeline of one
subject across every domain (a cylinder, a device, a node, an alert's subject: one list, newest first)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.console.client import ApiError

from .common import ApiDep, show

router = APIRouter(include_in_schema=False)
Field = Annotated[str | None, Query(max_length=200)]


@router.get("/events", response_class=HTMLResponse)
async def explorer(request: Request, api: ApiDep, type: Field = None, subject: Field = None,  # noqa: A002
                   topic: Field = None, recorded_from: datetime | None = None, recorded_to: datetime | None = None,
                   cursor: Annotated[str | None, Query(max_length=200)] = None) -> HTMLResponse:
    filters = {"type": type, "subject": subject, "topic": topic, "recorded_from": recorded_from,
               "recorded_to": recorded_to}
    page, error = await _page(api, cursor=cursor, limit=100, **filters)
    return show(request, "events.html", page=page, error=error, filters=filters, rows=_rows(page))


@router.get("/events/timeline", response_class=HTMLResponse)
async def timeline(request: Request, api: ApiDep, subject: Field = None) -> HTMLResponse:
    page, error = (await _page(api, subject=subject, limit=500)) if subject else (None, None)
    return show(request, "timeline.html", subject=subject or "", rows=_rows(page), error=error)


async def _page(api: Any, **params: Any) -> tuple[dict[str, Any] | None, str | None]:
    try:
        return await api.get("/api/events", **{k: v.isoformat() if isinstance(v, datetime) else v
                                                for k, v in params.items()}), None
    except ApiError as e:
        return None, e.detail


def _rows(page: dict[str, Any] | None) -> list[dict[str, Any]]:
    """What a person scans for: when, what, about what, by whom, and the payload's short fields."""
    rows = []
    for item in (page or {}).get("items", []):
        envelope = item.get("envelope") or {}
        data = envelope.get("data") or {}
        brief = ", ".join(f"{k}={v}" for k, v in data.items() if isinstance(v, str | int | float) and len(str(v)) < 60)
        rows.append({"at": envelope.get("occurred_at"), "type": item["type"] or "(not an event)",
                     "topic": item["topic"], "subject": item["subject"], "actor": envelope.get("actor"),
                     "brief": brief[:300], "event_id": item["event_id"], "envelope": envelope})
    return rows
