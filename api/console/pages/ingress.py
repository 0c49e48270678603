"""Ingress: the submission form (photos and files uploaded first, then named by the reading), the list with
filters, and each node's ranking and trend over the last weeks."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.console.client import gather

from .common import ApiDep, show

router = APIRouter(include_in_schema=False)
TREND_DAYS = 28


@router.get("/ingress/new", response_class=HTMLResponse)
async def new_reading(request: Request) -> HTMLResponse:
    return show(request, "ingress_new.html")


@router.get("/ingress", response_class=HTMLResponse)
async def readings(request: Request, api: ApiDep, node_id: Annotated[str | None, Query(max_length=64)] = None,
                   customer: Annotated[str | None, Query(max_length=200)] = None,
                   exceeded: bool | None = None) -> HTMLResponse:
    since = (datetime.now(UTC) - timedelta(days=TREND_DAYS)).isoformat()
    listed, recent = await gather(
        api.get("/api/ingress", node_id=node_id, customer=customer, exceeded=exceeded, limit=100),
        api.get("/api/ingress", submitted_from=since, limit=500))
    ranking, trend = rank(recent["items"])
    return show(request, "ingress.html", readings=listed["items"], node_id=node_id or "", customer=customer or "",
                exceeded=exceeded, ranking=ranking, trend=trend)


def rank(items: list[dict[str, Any]], top: int = 4) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Nodes by readings over their limit, then the worst nodes' daily count of such readings (a chart)."""
    per_node: dict[str, dict[str, Any]] = defaultdict(lambda: {"readings": 0, "exceeded": 0, "levels": []})
    daily: dict[str, Counter[date]] = defaultdict(Counter)
    for r in items:
        node = per_node[r["node_id"]]
        node["readings"] += 1
        node["levels"].append(r["level_dbmv"])
        if r["limit_exceeded"]:
            node["exceeded"] += 1
            daily[r["node_id"]][datetime.fromisoformat(r["submitted_at"]).date()] += 1
    ranking = sorted(({"node_id": n, "readings": v["readings"], "exceeded": v["exceeded"],
                       "worst_dbmv": max(v["levels"])} for n, v in per_node.items()),
                     key=lambda n: (-n["exceeded"], -n["worst_dbmv"]))
    worst = [n["node_id"] for n in ranking[:top] if n["exceeded"]]
    if not worst:
        return ranking, None
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=d) for d in range(TREND_DAYS - 1, -1, -1)]
    columns: list[list[float]] = [[datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() for d in days]]
    columns += [[daily[node][d] for d in days] for node in worst]
    return ranking, {"series": worst, "columns": columns}
