"""The `opsledger` command line (typer + rich): the components and the stack here, tools in infra.entry.tools,
benchmarks in infra.bench.cli."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Annotated

import structlog
import typer

from infra.bench.cli import bench_app
from infra.entry.retention import archive_app, retention_app
from infra.entry.terminal import command_settings, console
from infra.entry.tools import alerts_app, events_app, tools_app, users_app
from infra.settings import Settings

app = typer.Typer(help="Opsledger: event-sourced operations platform.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
app.add_typer(tools_app)
app.add_typer(alerts_app, name="alerts")
app.add_typer(events_app, name="events")
app.add_typer(bench_app, name="bench")
app.add_typer(users_app, name="users")
app.add_typer(retention_app, name="retention")
app.add_typer(archive_app, name="archive")


@app.command()
def up(demo: Annotated[bool, typer.Option(help="the living demo: every domain seeded and moving (--no-demo: empty)")]
       = True,
       live_demo: Annotated[bool, typer.Option(help="--no-live-demo: only the demo admin and readings, nothing moving")]
       = True) -> None:
    """Start everything on embedded defaults (or on KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set)."""
    import signal
    import threading

    from infra.entry.healing import GiveUp, Healer
    from infra.entry.retention import periodically
    from infra.entry.stack import start_backbone
    from infra.entry.supervisor import shutdown, start_components, supervise

    settings = command_settings()
    stopping = {"now": False}

    def ask_stop(*_: object) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGINT, ask_stop)
    signal.signal(signal.SIGTERM, ask_stop)
    stop_retention = threading.Event()
    stack = start_backbone(settings)  # stops what it started if it cannot start it all
    healer = Healer(stack)
    try:
        admin = None
        if demo:  # before the API starts: once it answers, the demo admin can sign in
            from api.identity.bootstrap import demo_admin

            admin = asyncio.run(demo_admin(stack.settings.database_url))
        if demo and live_demo and not stack.settings.outbound_allow_networks:
            from infra.entry.demo.agents import DEMO_ALLOW_NETWORKS

            stack.env["OPSLEDGER_OUTBOUND_ALLOW_NETWORKS"] = DEMO_ALLOW_NETWORKS  # the demo's switches and camera
        start_components(stack)
        if demo:
            seeded = asyncio.run(_seed_if_empty(stack.settings))
            if seeded:
                console.print(f"seeded {seeded} demo ingress readings")
            if live_demo:
                stack.spawn("demo")  # switches, a camera, cylinders, readings and alerts, through the API
                console.print(f"the living demo runs (log: {stack.settings.data_dir / 'logs' / 'demo.log'})")
            if admin:
                console.print(f"[bold]demo admin[/]: username [bold]{admin[0]}[/] password [bold]{admin[1]}[/] "
                              "(shown only now; sign in at the console or POST /api/auth/login)")
        console.print(f"[bold green]Opsledger is up[/]: console {stack.api_url}/  docs {stack.api_url}/docs  "
                      f"events {stack.api_url}/api/events\nlogs in {stack.settings.data_dir / 'logs'}; "
                      "press Ctrl-C to stop (history and read models are kept).")
        periodically(stack.settings, stop_retention)
        supervise(stack, healer, stop=lambda: stopping["now"])
    except GiveUp as e:
        console.print(f"[bold red]FATAL[/]: {e}; stopping everything.")
        raise typer.Exit(3) from e
    finally:
        stop_retention.set()
        console.print("stopping: draining processors and projections …")
        shutdown(stack, healer)


async def _seed_if_empty(settings: Settings) -> int:
    import psycopg

    from infra.producer import EventProducer
    from producers.demo import seed_demo

    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        row = await (await conn.execute("SELECT count(*) FROM event_archive WHERE type IS NOT NULL")).fetchone()
    if row and row[0]:
        return 0
    producer = EventProducer(settings.kafka_bootstrap_servers, idempotence=settings.kafka_idempotence)
    await producer.start()
    try:
        return await seed_demo(producer)
    finally:
        await producer.stop()


@app.command()
def demo() -> None:
    """The living demo against a running stack (started by `opsledger up`; stops with SIGTERM)."""
    from infra.entry.demo.living import run_demo

    run_demo(command_settings())


@app.command()
def api() -> None:
    """Serve the HTTP API (needs KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL)."""
    from infra.entry.components import run_api

    run_api(command_settings())


@app.command()
def processors() -> None:
    """Run the Faust processors."""
    from infra.entry.components import run_processors

    run_processors(command_settings())


@app.command()
def notifier() -> None:
    """Send alert notifications (email, HMAC-signed webhook) from alerts.events; needs OPSLEDGER_NOTIFY_* settings."""
    from infra.entry.components import run_notifier

    asyncio.run(run_notifier(command_settings()))


@app.command()
def pollers() -> None:
    """Poll the registered devices (SNMP) and probe the cameras (RTSP); OPSLEDGER_POLLER_INDEX/COUNT split them."""
    from infra.entry.components import run_pollers

    asyncio.run(run_pollers(command_settings()))


@app.command()
def projections(names: Annotated[list[str] | None, typer.Argument(help="projections to run; all by default")] = None
                ) -> None:
    """Run projections (all, or the ones named)."""
    import psycopg
    from aiokafka.errors import KafkaError

    from infra.entry.components import run_projections

    try:
        asyncio.run(run_projections(command_settings(), names or []))
    except (psycopg.OperationalError, KafkaError) as e:  # the backbone went away: one line, the supervisor restarts us
        structlog.get_logger("projections").error("projections.backbone_lost", error=f"{type(e).__name__}: {e}"[:300])
        raise typer.Exit(1) from None


@app.command()
def migrate() -> None:
    """Apply SQL migrations and create topics, then exit."""
    from infra.entry.components import backbone_of, prepare

    settings = command_settings()
    settings = backbone_of(settings)
    asyncio.run(prepare(settings))
    console.print("migrations applied, topics present")


@app.command()
def replay(projection: str,
           workers: Annotated[int | None, typer.Option(
               help="processes rebuilding at once (a partition-local projection's partitions are shared among them); "
                    "default: every core once the log holds 50,000 records")] = None,
           ) -> None:
    """Rebuild PROJECTION from the start of its topics beside the live one, then swap atomically."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from infra.entry.components import backbone_of
    from projections.catalog import all_projections
    from projections.replay import replay as run_replay

    settings = command_settings()
    settings = backbone_of(settings)
    known = all_projections(settings.processor_id)
    if projection not in known:
        raise typer.BadParameter(f"unknown projection {projection!r}; known: {', '.join(known)}")
    from infra.entry.components import replay_worker_setup, tune_gc
    from projections.replay import start_workers

    tune_gc()
    extra = (os.cpu_count() or 1) - 1 if workers is None else workers - 1
    pool = start_workers(extra, replay_worker_setup) if extra > 0 else None  # forked before any thread starts
    started = time.perf_counter()
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[eps]:,.0f} events/s"), TimeRemainingColumn())
    with pool or contextlib.nullcontext(), Progress(*columns, console=console) as progress:
        task = progress.add_task(f"replay {projection}", total=None, eps=0.0)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total,
                            eps=done / max(1e-6, time.perf_counter() - started))

        result = asyncio.run(run_replay(known[projection], bootstrap=settings.kafka_bootstrap_servers,
                                        database_url=settings.database_url, on_progress=report,
                                        workers=None if workers is None else max(1, workers),
                                        worker_setup=replay_worker_setup, pool=pool))
    console.print(f"replayed {result.events:,} events in {result.seconds:.2f} s "
                  f"({result.events / max(result.seconds, 1e-6):,.0f} events/s); swapped in")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
