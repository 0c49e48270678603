"""The app factory: wires settings, the producer and the pool in one place (never at import time)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import ORJSONResponse
from psycopg_pool import AsyncConnectionPool

from api import metrics
from api.middleware import RequestContext
from api.problems import install_problem_handlers
from api.routes import catalog, events, files, health, ingress
from infra.settings import Settings
from producers.producer import EventProducer


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        producer = EventProducer(settings.kafka_bootstrap_servers, idempotence=settings.kafka_idempotence,
                                 client_id="opsledger-api",
                                 on_produced=lambda topic: metrics.EVENTS_PRODUCED.labels(topic).inc())
        pool = AsyncConnectionPool(settings.database_url, min_size=2, max_size=20, open=False)
        await pool.open(wait=True, timeout=30)
        await producer.start()
        app.state.settings, app.state.pool, app.state.producer = settings, pool, producer
        try:
            yield
        finally:
            await producer.stop()
            await pool.close()

    app = FastAPI(
        title="Opsledger", version="0.1.0", lifespan=lifespan, default_response_class=ORJSONResponse,
        description="Event-sourced operations platform. Commands answer 202 with a consistency token; pass it "
                    "to any read (header Opsledger-Consistency or ?after=) to read your own writes.",
    )
    install_problem_handlers(app)
    for module in (ingress, files, events, health, catalog):
        app.include_router(module.router)
    app.add_middleware(RequestContext, max_body=settings.max_body_bytes, max_upload=settings.max_upload_bytes)
    return app
