"""The `opsledger` command line (typer + rich)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from infra.logs import configure_logging
from infra.settings import get_settings

app = typer.Typer(help="Opsledger: event-sourced operations platform.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
events_app = typer.Typer(help="Look at topics.", no_args_is_help=True)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks (print figures; see BENCHMARKS.md).", no_args_is_help=True)
alerts_app = typer.Typer(help="Alerts on the command line.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")
app.add_typer(events_app, name="events")
app.add_typer(bench_app, name="bench")
app.add_typer(users_app, name="users")
console = Console(stderr=True)


def _settings():  # type: ignore[no-untyped-def]
    settings = get_settings()
    configure_logging(settings.log_level)
    return settings


@app.command()
def up(demo: Annotated[bool, typer.Option(help="seed demo readings when the history is empty")] = True) -> None:
    """Start everything on embedded defaults (or on KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set)."""
    import signal

    from infra.entry.supervisor import shutdown, start_backbone, start_components, supervise

    settings = _settings()
    stopping = {"now": False}

    def ask_stop(*_: object) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGINT, ask_stop)
    signal.signal(signal.SIGTERM, ask_stop)
    stack = start_backbone(settings)
    try:
        admin = None
        if demo:  # before the API starts: once it answers, the demo admin can sign in
            from api.identity.bootstrap import demo_admin

            admin = asyncio.run(demo_admin(stack.settings.database_url))
        start_components(stack)
        if demo:
            seeded = asyncio.run(_seed_if_empty(stack.settings))
            if seeded:
                console.print(f"seeded {seeded} demo ingress readings")
            if admin:
                console.print(f"[bold]demo admin[/]: username [bold]{admin[0]}[/] password [bold]{admin[1]}[/] "
                              "(shown only now; sign in with POST /api/auth/login)")
        console.print(f"[bold green]Opsledger is up[/]: API {stack.api_url}  docs {stack.api_url}/docs  "
                      f"events {stack.api_url}/api/events\nlogs in {stack.settings.data_dir / 'logs'}; "
                      "press Ctrl-C to stop (history and read models are kept).")
        supervise(stack, stop=lambda: stopping["now"])
    finally:
        console.print("stopping: draining processors and projections …")
        shutdown(stack)


async def _seed_if_empty(settings) -> int:  # type: ignore[no-untyped-def]
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
def api() -> None:
    """Serve the HTTP API (needs KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL)."""
    from infra.entry.components import run_api

    run_api(_settings())


@app.command()
def processors() -> None:
    """Run the Faust processors."""
    from infra.entry.components import run_processors

    run_processors(_settings())


@app.command()
def notifier() -> None:
    """Send alert notifications (email, HMAC-signed webhook) from alerts.events; needs OPSLEDGER_NOTIFY_* settings."""
    from infra.entry.components import run_notifier

    asyncio.run(run_notifier(_settings()))


@app.command()
def pollers() -> None:
    """Poll the registered devices (SNMP) and probe the cameras (RTSP); OPSLEDGER_POLLER_INDEX/COUNT split them."""
    from infra.entry.components import run_pollers

    asyncio.run(run_pollers(_settings()))


@app.command()
def projections(names: Annotated[list[str] | None, typer.Argument(help="projections to run; all by default")] = None
                ) -> None:
    """Run projections (all, or the ones named)."""
    from infra.entry.components import run_projections

    asyncio.run(run_projections(_settings(), names or []))


@app.command()
def migrate() -> None:
    """Apply SQL migrations and create topics, then exit."""
    from infra.entry.components import prepare, require_backbone

    settings = _settings()
    require_backbone(settings)
    asyncio.run(prepare(settings))
    console.print("migrations applied, topics present")


@app.command()
def replay(projection: str) -> None:
    """Rebuild PROJECTION from the start of its topics beside the live one, then swap atomically."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from infra.entry.components import require_backbone
    from projections.catalog import all_projections
    from projections.replay import replay as run_replay

    settings = _settings()
    require_backbone(settings)
    known = all_projections(settings.processor_id)
    if projection not in known:
        raise typer.BadParameter(f"unknown projection {projection!r}; known: {', '.join(known)}")
    from infra.entry.components import tune_gc

    tune_gc()
    started = time.perf_counter()
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[eps]:,.0f} events/s"), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"replay {projection}", total=None, eps=0.0)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total,
                            eps=done / max(1e-6, time.perf_counter() - started))

        result = asyncio.run(run_replay(known[projection], bootstrap=settings.kafka_bootstrap_servers,
                                        database_url=settings.database_url, on_progress=report))
    console.print(f"replayed {result.events:,} events in {result.seconds:.2f} s "
                  f"({result.events / max(result.seconds, 1e-6):,.0f} events/s); swapped in")


@app.command()
def scan(
    action: Annotated[str, typer.Option(help="ship, return, refill_send or refill_receive")],
    to: Annotated[str | None, typer.Option("--to", help="customer or refill station (ship, refill_send)")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="customer or station (return, refill_receive)")] = None,
    location: Annotated[str | None, typer.Option(help="where the scanning happens")] = None,
    api_url: Annotated[str, typer.Option(envvar="OPSLEDGER_API_URL")] = "http://127.0.0.1:8000",
    buffer: Annotated[Path, typer.Option(help="where unsent scans wait")] = Path(".opsledger/scan-buffer.jsonl"),
) -> None:
    """Read QR codes from a USB barcode scanner (one per line on stdin) and send them as scans.

    Authenticates with the API key in $OPSLEDGER_API_KEY (scope scans:write). Prints each scan's outcome; scans
    that cannot be sent wait in the buffer file and are sent first on the next run."""
    import os
    import sys

    from producers.cylinders.scanner import Scanner

    valid = {"ship", "return", "refill_send", "refill_receive"}  # add/trash/reprint: admins, in the API
    if action not in valid:
        raise typer.BadParameter(f"action must be one of {', '.join(sorted(valid))}")
    key = os.environ.get("OPSLEDGER_API_KEY")
    if not key:
        raise SystemExit("set OPSLEDGER_API_KEY to an API key with the scans:write scope")
    scanner = Scanner(api_url, key, action, to or from_, location, buffer, say=lambda line: print(line, flush=True))
    left = scanner.run(sys.stdin)
    if left:
        console.print(f"{left} scan(s) buffered in {buffer}; run again when the API is reachable")


@users_app.command("create")
def users_create(username: Annotated[str, typer.Option(help="3–32 letters, digits, '.', '_' or '-'")],
                 role: Annotated[str, typer.Option(help="admin, operator, worker or viewer")] = "viewer") -> None:
    """Create a user (the first admin comes from here). Password: $OPSLEDGER_NEW_USER_PASSWORD, or a prompt."""
    import os

    from pydantic import ValidationError

    from api.identity.bootstrap import create_user
    from api.identity.store import UsernameTaken
    from projections.migrate import migrate

    settings = _settings()
    if not settings.database_url:
        raise SystemExit("DATABASE_URL must be set")
    password = os.environ.get("OPSLEDGER_NEW_USER_PASSWORD") or typer.prompt(
        "Password (12+ characters)", hide_input=True, confirmation_prompt=True)
    migrate(settings.database_url)
    try:
        user = asyncio.run(create_user(settings.database_url, username, password, role))
    except ValidationError as e:
        raise SystemExit("; ".join(str(err["msg"]) for err in e.errors())) from e
    except UsernameTaken as e:
        raise SystemExit(f"the username {username!r} is taken") from e
    console.print(f"created {user.role} {user.username} ({user.id})")


@events_app.command("tail")
def events_tail(topic: str, from_beginning: Annotated[bool, typer.Option("--from-beginning")] = False,
                limit: Annotated[int, typer.Option(help="stop after this many records (0: never)")] = 0) -> None:
    """Print the events of TOPIC as JSON lines as they arrive."""
    from infra.entry.components import require_backbone
    from infra.entry.tail import tail

    settings = _settings()
    require_backbone(settings)
    asyncio.run(tail(settings.kafka_bootstrap_servers, topic, from_beginning=from_beginning, limit=limit))


@alerts_app.command("tail")
def alerts_tail(from_beginning: Annotated[bool, typer.Option("--from-beginning")] = False,
                json_lines: Annotated[bool, typer.Option("--json", help="JSON lines instead of text")] = False,
                limit: Annotated[int, typer.Option(help="stop after this many events (0: never)")] = 0) -> None:
    """Print alert lifecycle events (raised, acknowledged, resolved, ...) as they happen, a line each."""
    from infra.entry.alerts_tail import tail_alerts
    from infra.entry.components import require_backbone

    settings = _settings()
    require_backbone(settings)
    asyncio.run(tail_alerts(settings.kafka_bootstrap_servers, from_beginning=from_beginning, as_json=json_lines,
                            limit=limit))


@app.command()
def catalog(out: Annotated[Path, typer.Option(help="where to write the AsyncAPI 3.0 document")] = Path(
        "asyncapi.json")) -> None:
    """Write the AsyncAPI 3.0 document of every topic and event."""
    from schemas.asyncapi import write_document

    write_document(out)
    console.print(f"wrote {out}")


@bench_app.command("pipeline")
def bench_pipeline(events: Annotated[int, typer.Option(help="events for the throughput runs")] = 100_000,
                   json_out: Annotated[bool, typer.Option("--json", help="print JSON only")] = False) -> None:
    """Raw produce ceiling, end-to-end throughput, freshness at 2,000 events/s, replay speed."""
    from infra.bench.pipeline import run_pipeline_bench

    configure_logging("WARNING")
    run_pipeline_bench(events=events, json_only=json_out)


@bench_app.command("scans")
def bench_scans(cylinders: Annotated[int, typer.Option(help="cylinders, each scanned through one full cycle")] = 5000,
                json_out: Annotated[bool, typer.Option("--json", help="print JSON only")] = False) -> None:
    """Cylinder scans through the HTTP API to the read model: scans/s, and scan-to-visible latency at 200/s."""
    from infra.bench.scans import run_scans_bench

    configure_logging("WARNING")
    run_scans_bench(cylinders=cylinders, json_only=json_out)


@bench_app.command("alerts")
def bench_alerts(rules: Annotated[int, typer.Option(help="generic rules loaded")] = 1000,
                 rate: Annotated[float, typer.Option(help="source events/s for the latency run")] = 1000.0,
                 seconds: Annotated[float, typer.Option(help="length of the latency run")] = 15.0,
                 events: Annotated[int, typer.Option(help="source events for the drained throughput run")] = 20_000,
                 json_out: Annotated[bool, typer.Option("--json", help="print JSON only")] = False) -> None:
    """Source events to alerts in the read model with 1,000 rules: event_to_alert_p99_ms at 1,000/s, rules_eval_eps."""
    from infra.bench.alerts import run_alerts_bench

    configure_logging("WARNING")
    run_alerts_bench(rules=rules, events=events, json_only=json_out, rate=rate, seconds=seconds)


@bench_app.command("snmp")
def bench_snmp(devices: Annotated[int, typer.Option(help="simulated 48-port switches")] = 40,
               rounds: Annotated[int, typer.Option(help="timed rounds (after one warm-up round)")] = 5,
               agents: Annotated[int, typer.Option(help="snmpsim processes serving them")] = 2,
               max_concurrent: Annotated[int, typer.Option(help="polls in flight at once")] = 32,
               v3: Annotated[bool, typer.Option("--v3", help="SNMPv3 authPriv (SHA-256/AES-128)")] = False,
               pysnmp: Annotated[bool, typer.Option("--pysnmp", help="SNMPv2c through pysnmp, not the fast path")
                                 ] = False,
               json_out: Annotated[bool, typer.Option("--json", help="print JSON only")] = False) -> None:
    """Poller CPU per poll against snmpsim on loopback: devices_per_s_per_core and poll_p99_ms (needs dev extras)."""
    import json

    from infra.bench.snmp import bench_snmp as run

    configure_logging("WARNING")
    result = asyncio.run(run(devices=devices, rounds=rounds, agents=agents, max_concurrent=max_concurrent, v3=v3,
                             fast_v2c=not pysnmp))
    print(json.dumps(result, indent=None if json_out else 2), flush=True)


@app.command("secrets-rotate")
def secrets_rotate() -> None:
    """Re-encrypt every stored device and camera secret with the first key of OPSLEDGER_SECRETS_KEYS."""
    from infra.secrets import SecretBox, rotate_all
    from projections.migrate import migrate

    settings = _settings()
    if not settings.database_url:
        raise SystemExit("DATABASE_URL must be set")
    migrate(settings.database_url)
    box = SecretBox(settings.secrets_keys.get_secret_value() if settings.secrets_keys else None)
    console.print(f"re-encrypted {rotate_all(settings.database_url, box)} stored secret(s) with the first key")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
