"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api import metrics
from api.deps import Pool, SettingsDep
from api.problems import Problem
from infra.kafka import end_offsets, group_lag
from infra.topics import PROCESSOR_INPUTS, platform_topics
from projections.catalog import all_projections, applied_offsets, lag_of
from schemas.topics import DEADLETTER

router = APIRouter(tags=["health"])


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


@router.get("/readyz")
async def readyz(request: Request, pool: Pool, settings: SettingsDep) -> dict[str, Any]:
    try:
        state = await backbone_state(request, pool)
    except Exception as e:  # any failure of broker or database means "not ready", with the reason
        raise Problem(503, f"Backbone not reachable: {type(e).__name__}: {e}") from e
    behind = {p: n for p, n in state["lag"].items() if n > settings.ready_max_lag}
    if behind:
        raise Problem(503, f"Projections are behind by more than {settings.ready_max_lag} records.", lag=behind)
    return {"status": "ready", "projection_lag": state["lag"], "processor_lag": state["processor_lag"]}


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
