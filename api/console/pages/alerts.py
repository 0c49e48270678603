"""Alerts: the filtered list with acknowledge-all and silences, and one alert with its history and actions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.console.client import gather

from .common import ApiDep, show

router = APIRouter(include_in_schema=False)
STATES = ("active", "firing", "acknowledged", "resolved")
SEVERITIES = ("critical", "high", "medium", "low", "info")


@router.get("/alerts", response_class=HTMLResponse)
async def alert_list(request: Request, api: ApiDep, state: Annotated[str | None, Query(max_length=20)] = None,
                     severity: Annotated[str | None, Query(max_length=20)] = None,
                     device: Annotated[str | None, Query(max_length=200)] = None,
                     subject: Annotated[str | None, Query(max_length=200)] = None) -> HTMLResponse:
    filters = {"state": state if state in STATES else None, "severity": severity if severity in SEVERITIES else None,
               "device": device or None, "subject": subject or None}
    alerts, silences = await gather(api.maybe("/api/alerts/", limit=200, **filters), api.maybe("/api/silences"))
    return show(request, "alerts.html", alerts=alerts, silences=silences, filters=filters, states=STATES,
                severities=SEVERITIES, default_until=_local(timedelta(hours=24)))


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
async def alert_detail(request: Request, alert_id: uuid.UUID, api: ApiDep) -> HTMLResponse:
    alert = await api.get(f"/api/alerts/{alert_id}")
    return show(request, "alert.html", alert=alert, default_until=_local(timedelta(hours=24)),
                silence_end=_local(timedelta(hours=2)))


def _local(ahead: timedelta) -> str:
    """A default for a datetime-local input (UTC: the page says so)."""
    return (datetime.now(UTC) + ahead).strftime("%Y-%m-%dT%H:%M")
