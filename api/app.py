"""The app factory: wires settings, the producer and the pool in one place (never at import time)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIWebSocketRoute
from psycopg_pool import AsyncConnectionPool
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.routing import WebSocketRoute

from api import metrics
from api.identity.principal import Limiter, authorize
from api.identity.rules import RULES
from api.live import Hub
from api.methods import MethodNotAllowed, templates
from api.middleware import RequestContext
from api.problems import COMMON_PROBLEMS, PROBLEM_JSON, install_problem_handlers
from api.routes import catalog, events, health, stream
from api.routes.alerts import alerts, silences
from api.routes.alerts import rules as alert_rules
from api.routes.cylinders import admin as admin_cylinders
from api.routes.cylinders import cylinders, reports, scans
from api.routes.devices import bandwidth, cameras, devices, discovery, topology
from api.routes.files import files
from api.routes.identity import api_keys, audit, auth
from api.routes.ingress import readings as ingress
from infra.producer import EventProducer
from infra.settings import Settings


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, but a refused preflight is an RFC 9457 problem like every other error."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        body = orjson.dumps({"type": "about:blank", "title": "Bad Request", "status": 400,
                             "detail": bytes(response.body).decode(errors="replace")})
        return Response(body, status_code=400, media_type=PROBLEM_JSON)


def check_rules(app: FastAPI) -> None:
    """Refuse to start when a route has no authorization rule (or a rule names no route)."""
    routes = {(method.upper(), path) for path, operations in app.openapi()["paths"].items() for method in operations}
    # WebSocket routes are not in OpenAPI: they are registered on the app itself (see create_app) and listed here
    routes |= {("WS", route.path) for route in app.routes if isinstance(route, WebSocketRoute | APIWebSocketRoute)}
    missing, stale = routes - set(RULES), set(RULES) - routes
    if missing or stale:
        raise RuntimeError(f"authorization rules out of date: missing {sorted(missing)}, stale {sorted(stale)}")


def create_app(settings: Settings) -> FastAPI:
    if settings.jwt_secret is None:
        raise SystemExit("OPSLEDGER_JWT_SECRET must be set (32+ random characters); `opsledger up` makes one")
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        producer = EventProducer(settings.kafka_bootstrap_servers, idempotence=settings.kafka_idempotence,
                                 client_id="opsledger-api",
                                 on_produced=lambda topic: metrics.EVENTS_PRODUCED.labels(topic).inc())
        pool = AsyncConnectionPool(settings.database_url, min_size=2, max_size=20, open=False)
        await pool.open(wait=True, timeout=30)
        await producer.start()
        hub = Hub(settings.database_url, pool, capacity=settings.stream_queue, max_clients=settings.stream_max_clients)
        await hub.start()
        app.state.pool, app.state.producer, app.state.hub = pool, producer, hub
        try:
            yield
        finally:
            await hub.stop()
            await producer.stop()
            await pool.close()

    app = FastAPI(
        title="Opsledger", version="0.1.0", lifespan=lifespan, dependencies=[Depends(authorize)],
        responses=COMMON_PROBLEMS,
        description="Event-sourced operations platform. Commands answer 202 with a consistency token; pass it "
                    "to any read (header Opsledger-Consistency or ?after=) to read your own writes.",
    )
    app.state.settings, app.state.limiter = settings, Limiter()
    install_problem_handlers(app)
    for module in (auth, api_keys, audit, ingress, files, scans, cylinders, admin_cylinders, reports, alert_rules,
                   alerts, silences, discovery, devices, bandwidth, topology, cameras, events, stream, health,
                   catalog):
        app.include_router(module.router)
    app.add_api_websocket_route("/ws", stream.live_socket)  # on the app, so check_rules sees it in app.routes
    check_rules(app)
    app.add_middleware(MethodNotAllowed, known=templates(app))  # innermost: after CORS answered its preflights
    if settings.cors_origin_list:
        app.add_middleware(
            ProblemCORSMiddleware, allow_origins=settings.cors_origin_list, allow_credentials=False,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "Opsledger-Consistency", "X-API-Key",
                           "X-Request-ID"],
            expose_headers=["ETag", "Location", "Opsledger-Consistency", "X-Request-ID", "Retry-After"],
        )
    # added last, so outermost: every response, a refused CORS preflight included, gets ids and headers
    app.add_middleware(RequestContext, max_body=settings.max_body_bytes, max_upload=settings.max_upload_bytes)
    return app
