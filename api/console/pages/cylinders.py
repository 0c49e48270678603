"""Cylinders: the scan page (USB scanner keystrokes, the phone camera), inventory, customers and balances as of any
date, reports as charts, and QR label sheets."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.console.client import ApiError, gather

from .common import ApiDep, show

router = APIRouter(include_in_schema=False)
STATES = ("available", "sent", "returned", "in_refill", "trashed")
ACTIONS = (("ship", "Ship to a customer"), ("return", "Return from a customer"),
           ("refill_send", "Send to refill"), ("refill_receive", "Receive from refill"))
CODE = re.compile(r"^[A-Za-z0-9-]{1,40}$")


@router.get("/cylinders/scan", response_class=HTMLResponse)
async def scan(request: Request, api: ApiDep) -> HTMLResponse:
    customers = await api.maybe("/api/customers") or []
    return show(request, "scan.html", actions=ACTIONS, customers=customers)


@router.get("/cylinders", response_class=HTMLResponse)
async def inventory(request: Request, api: ApiDep, status: Annotated[str | None, Query(max_length=20)] = None,
                    holder: Annotated[str | None, Query(max_length=200)] = None) -> HTMLResponse:
    chosen = status if status in STATES else None
    cylinders, totals = await gather(api.get("/api/cylinders", status=chosen, holder=holder, limit=200),
                                     api.maybe("/api/admin/inventory"))
    return show(request, "cylinders.html", cylinders=cylinders["items"], totals=totals, states=STATES,
                status=chosen, holder=holder or "")


@router.get("/cylinders/customers", response_class=HTMLResponse)
async def customers(request: Request, api: ApiDep, customer: Annotated[str | None, Query(max_length=200)] = None,
                    as_of: date | None = None) -> HTMLResponse:
    listed = await api.get("/api/customers")
    balance = None
    if customer:
        moment = datetime.combine(as_of, time.max, UTC) if as_of else None
        balance = await api.maybe(f"/api/customers/{quote(customer, safe='')}/balance",
                                  as_of=moment.isoformat() if moment else None)
    return show(request, "customers.html", customers=listed, customer=customer or "", as_of=as_of, balance=balance)


@router.get("/cylinders/reports", response_class=HTMLResponse)
async def reports(request: Request, api: ApiDep, start: Annotated[date | None, Query(alias="from")] = None,
                  to: date | None = None) -> HTMLResponse:
    report, error = None, None
    try:
        report = await api.get("/api/admin/reports", **{"from": start, "to": to})
    except ApiError as e:
        error = e.detail
    shipments = await api.maybe("/api/admin/shipments", open_only="true", limit=50)
    return show(request, "reports.html", report=report, error=error, shipments=shipments,
                weekly=_weekly(report), stays=_stays(report))


def _weekly(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if not report or not report["shipments_per_week"]:
        return None
    weeks = report["shipments_per_week"]
    return {"bars": True, "series": ["shipped", "returned"], "labels": [w["week"] for w in weeks],
            "columns": [list(range(len(weeks))), [w["shipped"] for w in weeks], [w["returned"] for w in weeks]]}


def _stays(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if not report or not report["days_at_customer"]["buckets"]:
        return None
    buckets = report["days_at_customer"]["buckets"]
    labels = [f"{b['from_days']}–{b['to_days']} d" if b["to_days"] is not None else f"{b['from_days']}+ d"
              for b in buckets]
    return {"bars": True, "series": ["returned", "still out"], "labels": labels,
            "columns": [list(range(len(buckets))), [b["returned"] for b in buckets], [b["still_out"] for b in buckets]]}


@router.get("/cylinders/labels", response_class=HTMLResponse)
async def labels(request: Request, codes: Annotated[str, Query(max_length=4000)] = "") -> HTMLResponse:
    chosen = [c for c in re.split(r"[\s,]+", codes) if CODE.match(c)][:99]
    return show(request, "labels.html", codes=chosen)
