"""The app factory: wires settings, the producer and the pool in one place (never at import time)."""

from __future__ import annotations

import asyncio
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

from api import consistency, console, document, metrics
from api.consistency import LogEnds
from api.identity.limits import Limiter
from api.identity.oidc.accounts import PgPendingStore, relying_party
from api.identity.principal import authorize
from api.identity.rules import CONSOLE_RULES, RULES
from api.live import Hub
from api.methods import MethodNotAllowed, templates
from api.middleware import Gate, RequestContext
from api.problems import COMMON_PROBLEMS, PROBLEM_JSON, install_problem_handlers
from api.routes import catalog, events, health, stream
from api.routes.alerts import alerts, silences
from api.routes.alerts import rules as alert_rules
from api.routes.analytics import capacity, ml
from api.routes.cylinders import admin as admin_cylinders
from api.routes.cylinders import cylinders, reports, scans
from api.routes.devices import bandwidth, cameras, devices, discovery, topology
from api.routes.files import files
from api.routes.identity import account, api_keys, audit, auth, oidc
from api.routes.images import files as image_files
from api.routes.images import images
from api.routes.images import reads as image_reads
from api.routes.ingress import nodes as ingress_nodes
from api.routes.ingress import readings as ingress
from infra.kafka import end_offsets
from infra.outbox import Outbox, Relay
from infra.producer import EventProducer
from infra.settings import Settings
from infra.topics import platform_topics


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
    # the console's pages are not in OpenAPI either: each of its routes must be one of CONSOLE_RULES
    pages = set(console.routes())
    missing |= pages - set(CONSOLE_RULES)
    stale |= set(CONSOLE_RULES) - pages
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
        # a short wait for a connection: with the database gone, a request answers 503 within 2 s, not 30
        pool = AsyncConnectionPool(settings.database_url, min_size=2, max_size=20, open=False, timeout=1.5,
                                   kwargs={"connect_timeout": 1})
        await pool.open(wait=True, timeout=30)
        # credential checks (every request): single statements in autocommit, one round trip each instead of three
        lookups = AsyncConnectionPool(settings.database_url, min_size=1, max_size=10, open=False, timeout=1.5,
                                      kwargs={"connect_timeout": 1, "autocommit": True})
        await lookups.open(wait=True, timeout=30)
        relay = Relay(settings.database_url, pool, producer)
        stop = asyncio.Event()
        # the broker may be away at start: commands are recorded in the outbox meanwhile, the relay (which starts the
        # producer when it can) sends them later
        background = [asyncio.create_task(relay.run(stop), name="outbox-relay")]
        hub = Hub(settings.database_url, pool, capacity=settings.stream_queue, max_clients=settings.stream_max_clients)
        await hub.start()
        app.state.pool, app.state.producer, app.state.hub = pool, Outbox(pool, relay), hub
        app.state.lookups = lookups
        try:
            yield
        finally:
            stop.set()
            await hub.stop()
            await asyncio.gather(*background, return_exceptions=True)
            await producer.stop()
            await lookups.close()
            await pool.close()

    app = FastAPI(
        title="Opsledger", version="0.1.0", lifespan=lifespan, dependencies=[Depends(authorize)],
        docs_url=None, redoc_url=None,  # served from vendored files by api.console (no CDN)
        responses=COMMON_PROBLEMS,
        description="Event-sourced operations platform. Commands answer 202 with a consistency token; pass it "
                    "to any read (header Opsledger-Consistency or ?after=) to read your own writes.",
    )
    app.state.settings, app.state.limiter = settings, Limiter(settings.rate_limit_storage)
    app.state.readiness = health.Readiness()
    app.state.oidc, app.state.oidc_store = relying_party(settings.oidc), PgPendingStore(settings.database_url)
    app.state.log_ends = LogEnds(platform_topics(settings.processor_id),
                                 lambda topics: end_offsets(settings.kafka_bootstrap_servers, topics))
    consistency.WAITERS.limit = settings.consistency_max_waiters
    install_problem_handlers(app)
    # ingress_nodes before ingress: /api/ingress/{reading_id} would take /api/ingress/nodes
    for module in (auth, account, oidc, api_keys, audit, ingress_nodes, ingress, files, scans, cylinders,
                   admin_cylinders, reports, alert_rules, alerts, silences, discovery, devices, bandwidth, topology,
                   cameras, images, image_reads, image_files, capacity, ml, events, stream, health, catalog):
        app.include_router(module.router)
    app.add_api_websocket_route("/ws", stream.live_socket)  # on the app, so check_rules sees it in app.routes
    console.install(app)  # the operator console at /, and /docs, /redoc from vendored files
    document.install(app)  # before anything reads the OpenAPI document
    check_rules(app)
    app.add_middleware(Gate)  # innermost, after the request id and the body limit: limits and rules
    # 405 with the whole Allow, before the rules: a method the resource does not take is that for every caller (a
    # viewer's PUT on a read-only path is 405, not 403); inside CORS, so a preflight never reaches it
    app.add_middleware(MethodNotAllowed, known=templates(app))
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
