"""HFC nodes, worst first (the operators' view): per node over a window, how many current readings exceeded their
limit line, the level (mean, worst, latest) and its trend (least-squares slope, dB per day); ranked by exceedances,
then by level. Computed from the current readings (corrections applied, retractions left out)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from psycopg.rows import dict_row
from pydantic import BaseModel, Field

from api.deps import DbConn
from api.routes.ingress.readings import Consistent
from schemas.envelope import utc_now

router = APIRouter(prefix="/api/ingress", tags=["ingress"])
NODES = """
SELECT r.node_id, count(*) AS readings, count(e.reading_id) AS exceedances,
       avg(r.level_dbmv) AS mean_dbmv, max(r.level_dbmv) AS worst_dbmv,
       (array_agg(r.level_dbmv ORDER BY r.submitted_at DESC, r.id DESC))[1] AS latest_dbmv,
       max(r.submitted_at) AS last_reading_at,
       regr_slope(r.level_dbmv, extract(epoch FROM r.submitted_at) / 86400) AS trend_db_per_day,
       max(e.exceeded_by_db) AS worst_excess_db
FROM ingress_readings r
LEFT JOIN ingress_limit_exceeded e ON e.reading_id = r.id AND e.version = r.version
WHERE NOT r.retracted AND r.submitted_at >= %s
GROUP BY r.node_id
ORDER BY exceedances DESC, mean_dbmv DESC, r.node_id
LIMIT %s
"""


class NodeOut(BaseModel):
    node_id: str
    readings: int
    exceedances: int = Field(description="readings above their limit line in the window")
    mean_dbmv: float
    worst_dbmv: float
    latest_dbmv: float
    worst_excess_db: float | None
    trend_db_per_day: float | None = Field(description="null with fewer than two readings at distinct times")
    last_reading_at: datetime


@router.get("/nodes", response_model=list[NodeOut], dependencies=[Consistent])
async def nodes(conn: DbConn, days: Annotated[int, Query(ge=1, le=3650, description="the window, in days")] = 30,
                limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[NodeOut]:
    """Nodes ranked worst first: most exceedances in the window, then highest mean level."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(NODES, (utc_now() - timedelta(days=days), limit))
        return [NodeOut(**row) for row in await cur.fetchall()]
