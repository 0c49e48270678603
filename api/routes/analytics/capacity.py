"""Capacity planning: interfaces ranked by how soon their utilisation (busier direction) reaches saturation, from
the processor's forecasts (daily per interface, from its hourly rollups), and asking for fresh forecasts now."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field

from api.commands import Accepted, emit
from api.deps import DbConn, Producer, consistent_with
from api.identity.principal import CurrentPrincipal
from api.text import Text
from producers.analytics.commands import request_capacity
from schemas.topics import ANALYTICS_ANOMALIES

router = APIRouter(prefix="/api/analytics", tags=["analytics"])
Consistent = Depends(consistent_with("analytics", (ANALYTICS_ANOMALIES,)))
RANKED = sql.SQL("""
SELECT f.series, f.device_id, d.name AS device_name, f.if_index, i.name AS interface, f.at, f.threshold, f.current,
       f.slope_per_day, f.season, f.hours_until, f.hours_until_pessimistic, f.history_hours, f.points, f.request_id
FROM capacity_forecasts f
LEFT JOIN devices d ON d.device_id = f.device_id
LEFT JOIN device_interfaces i ON i.device_id = f.device_id AND i.if_index = f.if_index
WHERE (d.removed IS NULL OR NOT d.removed) AND (%(device)s::text IS NULL OR f.device_id = %(device)s)
ORDER BY {by} NULLS LAST, f.current DESC, f.series
LIMIT %(limit)s
""")
ORDER = {"expected": sql.SQL("f.hours_until"), "pessimistic": sql.SQL("f.hours_until_pessimistic")}


class Forecasted(BaseModel):
    at: datetime
    value: float
    lower: float
    upper: float


class CapacityOut(BaseModel):
    series: str
    device_id: str
    device_name: str | None
    if_index: int
    interface: str | None
    at: datetime = Field(description="the last hour the forecast saw")
    threshold: float
    current: float = Field(description="the last hourly mean utilisation (0..1)")
    slope_per_day: float
    season: str
    hours_until: float | None = Field(description="until the forecast reaches the threshold (null: not within the "
                                                  "horizon)")
    hours_until_pessimistic: float | None = Field(description="until the upper 95 % bound does")
    history_hours: int
    points: list[Forecasted] = Field(description="one a day, with the 95 % interval")
    request_id: str | None


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device_id: Text | None = Field(default=None, min_length=1, max_length=200, description="one device; all if unset")


@router.get("/capacity", response_model=list[CapacityOut], dependencies=[Consistent])
async def capacity(conn: DbConn, by: Literal["expected", "pessimistic"] = "expected",
                   device_id: Annotated[str | None, Query(max_length=200)] = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[CapacityOut]:
    """Interfaces by time to saturation, soonest first (`pessimistic`: by when the upper bound gets there)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(RANKED.format(by=ORDER[by]), {"device": device_id, "limit": limit})
        rows: list[dict[str, Any]] = await cur.fetchall()
    return [CapacityOut(**row) for row in rows]


@router.post("/capacity/refresh", response_model=Accepted, status_code=202)
async def refresh(request: Request, response: Response, producer: Producer, principal: CurrentPrincipal,
                  body: RefreshIn | None = None) -> Accepted:
    """Forecast every interface (or one device's) now; each new forecast replaces the interface's last."""
    event = request_capacity((body or RefreshIn()).device_id, actor=principal.actor,
                             correlation_id=request.state.request_id)
    return await emit(request, response, producer, [event], location="/api/analytics/capacity")
