"""Each long-running component, runnable alone against external Kafka/Postgres (docker-compose does that)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import structlog

from infra.kafka import ensure_topics
from infra.logs import configure_logging
from infra.producer import EventProducer
from infra.settings import Settings, get_settings
from infra.topics import changelog_topics, internal_topics
from projections.catalog import all_projections
from projections.doorbell import Doorbell, listen_for_produced
from projections.migrate import migrate
from projections.runner import ProjectionRunner
from projections.sources import Fanout
from schemas.catalog import all_topics

log = structlog.get_logger(__name__)


def tune_gc() -> None:
    """Stream processing allocates many short-lived objects; CPython's default gen-0 threshold (700) makes the
    collector run thousands of times a second. Collect young objects less often; freeze what start-up built."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)


def replay_worker_setup() -> None:
    """A parallel replay's worker process (`opsledger replay --workers`): the command's logging and collector."""
    configure_logging(get_settings().log_level)
    tune_gc()


def require_backbone(settings: Settings) -> None:
    if not settings.kafka_bootstrap_servers or not settings.database_url:
        raise SystemExit("KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL must be set (or use `opsledger up`)")


def backbone_of(settings: Settings) -> Settings:
    """For tools run beside a running `opsledger up`: the broker and database it started (it writes them to
    <data dir>/stack.json while it runs), unless KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL say otherwise."""
    if not settings.kafka_bootstrap_servers or not settings.database_url:
        running = read_stack_file(settings.data_dir)
        if running is not None:
            settings = settings.model_copy(update={
                "kafka_bootstrap_servers": settings.kafka_bootstrap_servers or running["kafka_bootstrap_servers"],
                "database_url": settings.database_url or running["database_url"]})
    require_backbone(settings)
    return settings


def read_stack_file(data_dir: Path) -> dict[str, Any] | None:
    path = data_dir / "stack.json"
    try:
        found = orjson.loads(path.read_bytes())
        os.kill(int(found["pid"]), 0)  # the `opsledger up` that wrote it still runs
    except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return None
    return dict(found)


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def prepare(settings: Settings) -> None:
    """Migrations and topics: idempotent, safe for every component to run at start."""
    await asyncio.to_thread(migrate, settings.database_url)
    await ensure_topics(settings.kafka_bootstrap_servers, all_topics(), settings.topic_partitions,
                        settings.topic_replication)
    await ensure_topics(settings.kafka_bootstrap_servers, changelog_topics(settings.processor_id),
                        settings.topic_partitions, settings.topic_replication, compacted=True)
    await ensure_topics(settings.kafka_bootstrap_servers, internal_topics(settings.processor_id),
                        settings.topic_partitions, settings.topic_replication)


async def run_projections(settings: Settings, names: Sequence[str] = ()) -> None:
    require_backbone(settings)
    await prepare(settings)
    available = all_projections(settings.processor_id)
    unknown = set(names) - set(available)
    if unknown:
        raise SystemExit(f"unknown projection(s): {', '.join(sorted(unknown))}; known: {', '.join(available)}")
    chosen = [available[n] for n in (names or available)]
    tune_gc()
    stop = asyncio.Event()
    stop_on_signals(stop)
    producer = EventProducer(settings.kafka_bootstrap_servers, idempotence=settings.kafka_idempotence,
                             client_id="opsledger-projections")
    await producer.start()
    try:
        doorbell = Doorbell()  # rung by the outbox relay's notifications: a held fetch goes at once
        fanout = Fanout(settings.kafka_bootstrap_servers, idle_fetch_wait_ms=settings.kafka_idle_fetch_wait_ms,
                        doorbell=doorbell)  # one fetching consumer for every projection here
        await fanout.start()
        runners = [ProjectionRunner(p, bootstrap=settings.kafka_bootstrap_servers, fanout=fanout,
                                    database_url=settings.database_url, deadletters=producer) for p in chosen]
        log.info("projections.started", projections=[p.name for p in chosen])
        listener = asyncio.create_task(listen_for_produced(
            settings.database_url, doorbell, {t for p in chosen for t in p.topics}, stop))
        try:
            await asyncio.gather(fanout.run(stop), *(r.run(stop) for r in runners))
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
            await fanout.stop()
    finally:
        await producer.stop()
    log.info("projections.stopped")


async def run_notifier(settings: Settings) -> None:
    """The alert notifiers (email, signed webhook): an outbox projection and a sender per configured channel."""
    require_backbone(settings)
    await prepare(settings)
    from projections.alerts.notify.runner import run_notifier as notify

    tune_gc()
    stop = asyncio.Event()
    stop_on_signals(stop)
    await notify(settings.notify, bootstrap=settings.kafka_bootstrap_servers, database_url=settings.database_url,
                 stop=stop, idempotence=settings.kafka_idempotence)


async def run_pollers(settings: Settings) -> None:
    """SNMP pollers and camera probes for this poller's share of the registry (see producers/pollers.py)."""
    require_backbone(settings)
    if settings.secrets_keys is None:
        raise SystemExit("OPSLEDGER_SECRETS_KEYS must be set (Fernet keys); `opsledger up` makes one")
    await prepare(settings)
    from producers.devices.pollers import run_pollers as run

    stop = asyncio.Event()
    stop_on_signals(stop)
    await run(settings, stop)


def run_processors(settings: Settings) -> None:
    require_backbone(settings)
    asyncio.run(prepare(settings))
    if settings.faust_uvloop:
        import mode.loop

        # before the Worker makes its loop: a uvloop policy, so the worker's loop and the aiokafka consumer
        # thread's are uvloop loops (every loop turn Faust takes per message is cheaper; BENCHMARKS.md issue 11)
        mode.loop.use("uvloop")
    import faust

    from infra.logs import hold_repeated_records
    from processors.app import create_app

    class Worker(faust.Worker):
        def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
            super().on_setup_root_logger(logger, level)
            hold_repeated_records(logger)  # Faust's handlers replace ours: a broker outage is not 60 lines a second

    app = create_app(settings)
    tune_gc()
    worker = Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    worker.execute_from_commandline()


WS_MAX_MESSAGE_BYTES = 64 * 1024


def run_api(settings: Settings) -> None:
    require_backbone(settings)
    import uvicorn
    from uvicorn.main import STARTUP_FAILURE

    from api.app import create_app
    from infra.entry.web_server import Server

    # proxy_headers=False: uvicorn would otherwise believe X-Forwarded-For/-Proto from localhost whatever
    # OPSLEDGER_TRUST_FORWARDED says; the API reads them itself, and only when told to trust them.
    # ws_max_size: the only message a client sends on /ws is its subscribe message (a token and up to 50 values per
    # filter), read before it is authenticated: 64 KiB, not uvicorn's 16 MiB default.
    # What uvicorn.run does for one worker without reload, with our quieter server (infra/entry/web_server.py).
    config = uvicorn.Config(create_app(settings), host=settings.api_host, port=settings.api_port,
                            log_level="warning", access_log=False, lifespan="on", proxy_headers=False,
                            ws_max_size=WS_MAX_MESSAGE_BYTES)
    server = Server(config)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if not server.started:
        sys.exit(STARTUP_FAILURE)
