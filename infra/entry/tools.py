"""`opsledger` tools: the scanner input, users, looking at topics and alerts, the event catalogue, secret rotation."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from infra.entry.terminal import command_settings, console

tools_app = typer.Typer()
events_app = typer.Typer(help="Look at topics.", no_args_is_help=True)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
alerts_app = typer.Typer(help="Alerts on the command line.", no_args_is_help=True)


@tools_app.command()
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

    settings = command_settings()
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
    from infra.entry.components import backbone_of
    from infra.entry.tail import tail

    settings = command_settings()
    settings = backbone_of(settings)
    asyncio.run(tail(settings.kafka_bootstrap_servers, topic, from_beginning=from_beginning, limit=limit))


@alerts_app.command("tail")
def alerts_tail(from_beginning: Annotated[bool, typer.Option("--from-beginning")] = False,
                json_lines: Annotated[bool, typer.Option("--json", help="JSON lines instead of text")] = False,
                limit: Annotated[int, typer.Option(help="stop after this many events (0: never)")] = 0) -> None:
    """Print alert lifecycle events (raised, acknowledged, resolved, ...) as they happen, a line each."""
    from infra.entry.alerts_tail import tail_alerts
    from infra.entry.components import backbone_of

    settings = command_settings()
    settings = backbone_of(settings)
    asyncio.run(tail_alerts(settings.kafka_bootstrap_servers, from_beginning=from_beginning, as_json=json_lines,
                            limit=limit))


@tools_app.command()
def catalog(out: Annotated[Path, typer.Option(help="where to write the AsyncAPI 3.0 document")] = Path(
        "asyncapi.json")) -> None:
    """Write the AsyncAPI 3.0 document of every topic and event."""
    from schemas.asyncapi import write_document

    write_document(out)
    console.print(f"wrote {out}")


@tools_app.command("secrets-rotate")
def secrets_rotate() -> None:
    """Re-encrypt every stored device and camera secret with the first key of OPSLEDGER_SECRETS_KEYS."""
    from infra.secrets import SecretBox, rotate_all
    from projections.migrate import migrate

    settings = command_settings()
    if not settings.database_url:
        raise SystemExit("DATABASE_URL must be set")
    migrate(settings.database_url)
    box = SecretBox(settings.secrets_keys.get_secret_value() if settings.secrets_keys else None)
    console.print(f"re-encrypted {rotate_all(settings.database_url, box)} stored secret(s) with the first key")


@tools_app.command()
def backup(dest: Annotated[Path, typer.Argument(help="a new (or empty) directory for the backup")]) -> None:
    """Write a consistent, checksummed backup of the log, identity, encrypted secrets and uploads (not the Fernet key,
    not the read models) while the stack runs; DATABASE_URL, or the embedded database of OPSLEDGER_DATA_DIR."""
    from infra.entry.backup import write_backup
    from infra.entry.embedded import embedded_database

    settings = command_settings()
    with embedded_database(settings) as database_url:
        manifest = asyncio.run(write_backup(database_url, settings.upload_dir, dest))
    rows = sum(entry["rows"] for entry in manifest["tables"].values())
    console.print(f"backed up {rows:,} rows of {len(manifest['tables'])} tables and {len(manifest['files'])} "
                  f"file(s) into {dest} (snapshot {manifest['snapshot_at']}); keep it off this machine, and keep the "
                  "secrets key (OPSLEDGER_SECRETS_KEYS or the data directory's secrets-key) apart from it")


@tools_app.command()
def restore(src: Annotated[Path, typer.Argument(help="a backup written by `opsledger backup`")],
            secrets_key: Annotated[Path | None, typer.Option(
                help="a file holding the backed-up stack's Fernet key(s), instead of OPSLEDGER_SECRETS_KEYS")] = None,
            ) -> None:
    """Restore a backup into an EMPTY data directory (OPSLEDGER_DATA_DIR): verify every checksum, load the log and
    the stored state, rebuild every read model from the log. Then `opsledger up` runs on it."""
    from infra.entry.recovery import restore as run_restore

    settings = command_settings()
    keys = secrets_key.read_text().strip() if secrets_key else (
        settings.secrets_keys.get_secret_value() if settings.secrets_keys else None)
    summary = run_restore(src, settings, keys)
    console.print(f"restored the backup of {summary['created_at']} into {settings.data_dir}: "
                  f"{sum(summary['tables'].values()):,} rows, {summary['files']} file(s), {summary['secrets']} "
                  f"secret(s); read models rebuilt from the log: {summary['projections']}")
