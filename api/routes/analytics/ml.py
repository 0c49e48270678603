"""The ML service interface (`/api/ml/…`), for an external data-science team and our own detectors: send a series'
points (202 + consistency token; the processor scores them in `t` order), read every point's score with its band,
forecast a series, see each series' detector. API keys need `ml:write` or `ml:read`; a key may be made to sign its
requests (api/routes/analytics/signing.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from psycopg.rows import dict_row

from api.commands import Accepted, emit
from api.consistency import Span, wait_decided
from api.deps import DbConn, Producer, consistent_with
from api.fields import Instant
from api.identity.principal import CurrentPrincipal
from api.paging import decode_cursor, encode_cursor
from api.problems import Problem
from api.routes.analytics import signing
from api.routes.analytics.models import (
    ModelOut,
    ModelsPage,
    PointsIn,
    PredictedPoint,
    PredictIn,
    PredictOut,
    ScoredOut,
    ScoresPage,
    SigningOut,
)
from producers.analytics.commands import submit_points
from schemas.analytics.forecast import predict
from schemas.analytics.params import DETECTOR, Params
from schemas.analytics.series import ML_PREFIX, series_id, valid_key
from schemas.topics import ANALYTICS_POINTS

router = APIRouter(prefix="/api/ml", tags=["ml"], dependencies=[Depends(signing.check)])
UNSCORED = ("SELECT 1 FROM metric_submissions WHERE src_partition = %s AND src_offset BETWEEN %s AND %s"
            " AND NOT scored LIMIT 1")
SCORES = ("SELECT t, value, score, anomaly, expected, lower, upper FROM metric_points WHERE series_id = %s"
          " AND t >= %s AND t < %s AND t > %s ORDER BY t LIMIT %s")
RAW = "SELECT t, value FROM metric_points WHERE series_id = %s ORDER BY t DESC LIMIT %s"
HOURLY = "SELECT t, sum / count FROM metric_rollups_1h WHERE series_id = %s ORDER BY t DESC LIMIT %s"
MODELS = ("SELECT s.series, s.points, s.warm, s.first_t, s.last_t, s.updated_at, coalesce(r.late, 0) AS late,"
          " coalesce(r.duplicates, 0) AS duplicates FROM metric_series s LEFT JOIN metric_refusals r USING (series_id)"
          " WHERE s.series LIKE %s AND s.series > %s ORDER BY s.series LIMIT %s")
HISTORY = {"raw": 2000, "1h": 28 * 24}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def wait_scored(pool: Any, spans: Sequence[Span], timeout_s: float) -> None:
    """After the submissions are projected: wait until the processor's verdict on each is projected too."""
    await wait_decided(pool, spans, timeout_s, topic=ANALYTICS_POINTS, undecided=UNSCORED, projection="analytics")


Consistent = Depends(consistent_with("analytics", (ANALYTICS_POINTS,), wait_scored))


def key_of(series: str) -> str:
    if not valid_key(series):
        raise Problem(422, "A series key is 1 to 16 '/'-separated segments of letters, digits and . _ : @ - %, at "
                           "most 200 characters.")
    return series


@router.post("/series/{series:path}/points", response_model=Accepted, status_code=202)
async def submit(series: str, body: PointsIn, request: Request, response: Response, producer: Producer,
                 principal: CurrentPrincipal) -> Accepted:
    """Points of an ML series (under `ml/`), up to 10,000 per batch, any age: scored in `t` order per series."""
    key = key_of(series)
    if not key.startswith(ML_PREFIX):
        raise Problem(403, f"Points may be sent for series under {ML_PREFIX} only; the platform's own series are "
                           "derived from its events.")
    event = submit_points(key, ((p.t, p.value) for p in body.points), actor=principal.actor,
                          correlation_id=request.state.request_id)
    return await emit(request, response, producer, [event], location=f"/api/ml/series/{key}/scores")


@router.get("/series/{series:path}/scores", response_model=ScoresPage, dependencies=[Consistent])
async def scores(series: str, conn: DbConn,
                 from_: Annotated[Instant | None, Query(alias="from", description="default: 2 days ago")] = None,
                 to: Annotated[Instant | None, Query(description="default: now")] = None,
                 cursor: Annotated[str | None, Query(max_length=200)] = None,
                 limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> ScoresPage:
    """Every kept point of the series in [from, to) with its score, oldest first (raw points are kept
    OPSLEDGER_RETENTION_RAW_HOURS)."""
    key = key_of(series)
    end = to or datetime.now(UTC)
    start = from_ or end - timedelta(days=2)
    if start.tzinfo is None or end.tzinfo is None:
        raise Problem(400, "from and to must carry a time zone (e.g. 2026-01-01T00:00:00Z).")
    after = EPOCH
    if cursor:
        try:
            after = datetime.fromisoformat(str(decode_cursor(cursor, 1)[0]))
        except ValueError as e:
            raise Problem(400, "The cursor is not valid; use next_cursor from a previous page.") from e
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(SCORES, (series_id(key), start, end, after, limit + 1))
        rows = await cur.fetchall()
    items = [ScoredOut(**row) for row in rows[:limit]]
    more = len(rows) > limit
    return ScoresPage(series=key, items=items, next_cursor=encode_cursor(items[-1].t.isoformat()) if more else None)


@router.post("/predict", response_model=PredictOut)
async def forecast(body: PredictIn, conn: DbConn) -> PredictOut:
    """Forecast `horizon` steps of a series with a 95 % interval: a robust trend plus its daily or weekly season,
    fitted on its raw points (their own spacing) or its hourly means."""
    key = key_of(body.series)
    query = RAW if body.step == "raw" else HOURLY
    rows = await (await conn.execute(query, (series_id(key), HISTORY[body.step]))).fetchall()
    history = [(t.timestamp(), float(v)) for t, v in reversed(rows)]
    if len(history) < 3:
        raise Problem(404, f"The series {key} has fewer than 3 {body.step} points kept: nothing to forecast from.")
    points = predict(history, body.horizon)
    step_s = (points[0]["ts"] - history[-1][0]) if points else 0.0
    return PredictOut(series=key, step_s=step_s, history=len(history),
                      points=[PredictedPoint(t=datetime.fromtimestamp(p["ts"], UTC), value=p["value"],
                                             lower=p["lower"], upper=p["upper"]) for p in points])


@router.get("/models", response_model=ModelsPage)
async def models(conn: DbConn, prefix: Annotated[str, Query(max_length=200)] = "",
                 cursor: Annotated[str | None, Query(max_length=300)] = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> ModelsPage:
    """Each series' detector: its parameters (one set for all), points seen, whether its warm-up is done."""
    after = str(decode_cursor(cursor, 1)[0]) if cursor else ""
    pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(MODELS, (pattern, after, limit + 1))
        rows = await cur.fetchall()
    parameters = Params().__dict__
    items = [ModelOut(series=r["series"], detector=DETECTOR, parameters=parameters, points_seen=r["points"],
                      warm_up_done=r["warm"], first_t=r["first_t"], last_t=r["last_t"], last_update=r["updated_at"],
                      late=r["late"], duplicates=r["duplicates"]) for r in rows[:limit]]
    more = len(rows) > limit
    return ModelsPage(items=items, next_cursor=encode_cursor(items[-1].series) if more else None)


@router.post("/keys/{key_id}/signing", response_model=SigningOut, status_code=201)
async def enable_signing(key_id: uuid.UUID, conn: DbConn, request: Request, response: Response) -> SigningOut:
    """Make an API key sign its ML requests; answers the signing secret once."""
    found = await (await conn.execute("SELECT 1 FROM api_keys WHERE id = %s AND revoked_at IS NULL",
                                      (key_id,))).fetchone()
    if found is None:
        raise Problem(404, f"No usable API key {key_id}.")
    secret = await signing.enable(conn, signing.secret_box(request), key_id)
    request.state.audit_subject = str(key_id)
    response.headers["Cache-Control"] = "no-store"
    return SigningOut(key_id=str(key_id), signing_secret=secret)


@router.delete("/keys/{key_id}/signing", status_code=204, response_class=Response)
async def disable_signing(key_id: uuid.UUID, conn: DbConn, request: Request) -> Response:
    """The key's ML requests need no signature any more."""
    await signing.disable(conn, key_id)
    request.state.audit_subject = str(key_id)
    return Response(status_code=204)
