"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api import metrics
from api.deps import Pool, SettingsDep
from api.problems import Problem
from api.shared import SharedAnswer
from infra.kafka import end_offsets, group_lag
from infra.settings import Settings
from infra.topics import PROCESSOR_INPUTS, platform_topics
from projections.catalog import all_projections, applied_offsets, lag_of
from schemas.envelope import utc_now
from schemas.topics import DEADLETTER

router = APIRouter(tags=["health"])
log = structlog.get_logger(__name__)


async def backbone_state(request: Request, pool: Pool) -> dict[str, Any]:
    """Broker end offsets vs. projection offsets; raises when the broker or the database is unreachable."""
    settings = request.app.state.settings
    ends = await end_offsets(settings.kafka_bootstrap_servers, platform_topics(settings.processor_id))
    async with pool.connection() as conn:
        applied = await applied_offsets(conn)
    projections = all_projections(settings.processor_id)
    lag, consumed = lag_of(projections, ends, applied), {}
    for name, projection in projections.items():
        for topic in projection.topics:
            consumed[(name, topic)] = sum(o for (p, t, _), o in applied.items() if p == name and t == topic)
    records: dict[str, int] = {}
    for tp, end in ends.items():
        records[tp.topic] = records.get(tp.topic, 0) + end
    processor_lag = await group_lag(settings.kafka_bootstrap_servers, settings.processor_id, PROCESSOR_INPUTS,
                                    known_ends=ends)
    return {"lag": lag, "consumed": consumed, "records": records, "processor_lag": processor_lag}


@router.get("/healthz", tags=["health"])
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


class Readiness:
    """The last readiness verdict (why not ready, or None; when it was checked), shared by every caller for
    OPSLEDGER_READY_CACHE_S: /readyz is public, and a check opens broker consumers and asks the database."""

    def __init__(self) -> None:
        self.shared: SharedAnswer[tuple[str | None, str]] = SharedAnswer()

    async def verdict(self, request: Request, pool: Pool, settings: Settings) -> tuple[str | None, str]:
        async def check() -> tuple[str | None, str]:
            return await not_ready_because(request, pool, settings), utc_now().isoformat()

        return await self.shared.get(settings.ready_cache_s, check)


async def not_ready_because(request: Request, pool: Pool, settings: Settings) -> str | None:
    """Why the API is not ready, in words safe for anyone (the details go to the log and to /metrics), or None."""
    try:
        state = await backbone_state(request, pool)
    except Exception as e:  # any failure of broker or database means "not ready"
        log.warning("readiness.backbone_unreachable", error=f"{type(e).__name__}: {e}")
        return "The broker or the database cannot be reached."
    behind = {p: n for p, n in state["lag"].items() if n > settings.ready_max_lag}
    if behind:
        log.warning("readiness.projections_behind", lag=behind)
        return "Read models are catching up."
    return None


@router.get("/readyz")
async def readyz(request: Request, pool: Pool, settings: SettingsDep) -> dict[str, Any]:
    """Ready or not, as of `checked_at` (answers are cached for OPSLEDGER_READY_CACHE_S); lags are on /metrics."""
    readiness: Readiness = request.app.state.readiness
    reason, checked_at = await readiness.verdict(request, pool, settings)
    if reason is not None:
        raise Problem(503, reason, headers={"Retry-After": "5"}, checked_at=checked_at)
    return {"status": "ready", "checked_at": checked_at}


@router.get("/metrics", response_class=Response)
async def prometheus(request: Request, pool: Pool) -> Response:
    try:
        state = await backbone_state(request, pool)
        for name, lag in state["lag"].items():
            metrics.PROJECTION_LAG.labels(name).set(lag)
        for (name, topic), count in state["consumed"].items():
            metrics.EVENTS_CONSUMED.labels(name, topic).set(count)
        for topic, count in state["records"].items():
            metrics.TOPIC_END_OFFSET.labels(topic).set(count)
        metrics.DEADLETTERED.set(state["records"].get(DEADLETTER, 0))
        metrics.PROCESSOR_LAG.set(state["processor_lag"])
    except Exception:  # metrics still serve the process's own figures when the backbone is down
        pass
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)
