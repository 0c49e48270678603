"""`opsledger retention …` (show and apply the retention policy) and `opsledger archive …` (exported archive partitions:
list them, bring one back for analysts). `opsledger up` applies the policy by itself every interval (`periodically`)."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import structlog
import typer

from infra.entry.terminal import command_settings, console
from infra.settings import Settings
from schemas.envelope import utc_now

log = structlog.get_logger(__name__)
retention_app = typer.Typer(help="The retention policy: what each level keeps, and dropping what is past it.",
                            no_args_is_help=True)
archive_app = typer.Typer(help="Exported event-archive partitions.", no_args_is_help=True)


def _settings() -> Settings:
    from projections.migrate import migrate

    settings = command_settings()
    if not settings.database_url:
        raise SystemExit("DATABASE_URL must be set")
    migrate(settings.database_url)
    return settings


async def _planned(settings: Settings) -> list[tuple[str, str, bool]]:
    import psycopg

    from projections.retention import plan

    async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
        return [(p.table, p.partition.name, p.export) for p in await plan(conn, settings.retention, utc_now())]


@retention_app.command("show")
def show() -> None:
    """What each level keeps, and the partitions now past it."""
    from rich.table import Table

    from projections.retention import policy

    settings = _settings()
    table = Table("level", "table", "kept", "partition span")
    for level in policy(settings.retention):
        table.add_row(level.name, level.table, str(level.keep) if level.keep else "for ever",
                      str(timedelta(seconds=level.layout.span_s)))
    console.print(table)
    due = asyncio.run(_planned(settings))
    for name, partition, export in due:
        console.print(f"due: {name} {partition}" + (f" (exported to {settings.archive_dir} first)" if export else ""))
    console.print(f"{len(due)} partition(s) past their retention")


@retention_app.command("apply")
def apply_now() -> None:
    """Export what must be kept as files, then drop every partition past its retention."""
    from projections.retention import apply

    settings = _settings()
    done = asyncio.run(apply(settings.database_url, settings.retention, settings.archive_dir, utc_now()))
    for item in done:
        console.print(f"dropped {item.table} {item.partition.name}" + (" (exported)" if item.export else ""))
    console.print(f"{len(done)} partition(s) dropped")


@archive_app.command("list")
def list_files() -> None:
    """The exported archive partitions, checked against their SHA-256."""
    from projections.archive_files import exported_files, verified

    settings = command_settings()
    for path in exported_files(settings.archive_dir):
        try:
            meta = verified(path)
            console.print(f"{path}  {meta['records']} records  {meta['start']} .. {meta['end']}  sha256 ok")
        except (ValueError, OSError) as e:
            console.print(f"[red]{path}: {e}[/]")


@archive_app.command("restore")
def restore_file(file: Path,
                 hold_days: Annotated[float, typer.Option(help="days before retention drops it again")] = 7.0) -> None:
    """Bring an exported partition back into the event archive (GET /api/events sees it) for `hold_days`."""
    import psycopg

    from projections.archive_files import restore

    settings = _settings()

    async def run() -> int:
        async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
            return await restore(conn, file, utc_now() + timedelta(days=hold_days))

    try:
        count = asyncio.run(run())
    except (ValueError, OSError) as e:
        raise SystemExit(f"cannot restore {file}: {e}") from e
    console.print(f"restored {count} records from {file}; kept for {hold_days:g} days")


def periodically(settings: Settings, stop: threading.Event) -> threading.Thread:
    """`opsledger up`: apply the policy now and every OPSLEDGER_RETENTION_INTERVAL_S, in a thread of its own (an
    export may take a while; the supervisor keeps watching its children meanwhile)."""
    from projections.retention import apply

    def loop() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                asyncio.run(apply(settings.database_url, settings.retention, settings.archive_dir, utc_now()))
            except Exception as e:  # the next round tries again; the stack must not stop for it
                log.warning("retention.failed", error=str(e))
            stop.wait(max(1.0, settings.retention.interval_s - (time.monotonic() - started)))

    thread = threading.Thread(target=loop, name="retention", daemon=True)
    thread.start()
    return thread
