"""`opsledger backup DEST`: a consistent, checksummed copy of what cannot be derived, taken while the stack runs.

In the backup: the event archive (the log: the source of truth), the identity store (users, API keys, refresh-token
families, revoked tokens), the encrypted device and camera secrets (NOT their Fernet key: the operator keeps
OPSLEDGER_SECRETS_KEYS or the data directory's `secrets-key` file apart), where the processors stood
(broker_group_offsets), the notifier's delivery journal (what was sent cannot be derived again: without it a restore
would send every notification again) with its positions, and the uploaded files (content-addressed bytes the log only
names). Not in it: read models, rebuilt from the log by `opsledger restore`.

Consistency: every table is copied in ONE read-only serializable transaction (DEFERRABLE: it waits for a snapshot no
concurrent transaction can invalidate, then never blocks writers), each with COPY … TO STDOUT, so the tables agree
with one another at one instant however much traffic flows. Files are copied after that snapshot: a file the log
names was stored before its event was recorded, so every file the snapshot's log names is there.

Layout: `tables/<name>.copy.gz` (PostgreSQL's COPY text format, gzip), `files/…` (as stored), `manifest.json` (format
version, created_at, app version, schema version, per table its row count, columns and the sha256 of its file, per
file its sha256) and `manifest.json.sha256` (the manifest's own checksum, in `sha256sum -c` form).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

FORMAT = 1
MANIFEST = "manifest.json"
MANIFEST_SUM = "manifest.json.sha256"
# table -> why it is backed up; a table not here must be derived (tests/integration/platform/test_backup.py checks
# that every table of a migrated database is one or the other)
SOURCES = {
    "event_archive": "the event log, the source of truth",
    "users": "identity: credentials are not events",
    "api_keys": "identity",
    "sessions": "identity: sign-ins, their absolute ends and revocations",
    "oidc_identities": "identity: external accounts (issuer, subject) and their users",
    "password_resets": "identity: one-time reset tokens an admin issued (hashed)",
    "refresh_tokens": "identity: refresh-token families",
    "revoked_access_tokens": "identity: logged-out access tokens until they expire",
    "device_secrets": "device and camera secrets, Fernet-encrypted (the key is not in the backup)",
    "broker_group_offsets": "where the processors' consumer group stood",
    "notifications": "the notifier's journal",
    "notification_alerts": "the notifier's journal",
    "notification_groups": "the notifier's journal",
    "notification_deliveries": "the notifier's journal: what was sent",
    "notification_attempts": "the notifier's journal",
    "notification_silences": "the notifier's journal",
    "outbox": "commands accepted but not yet in the log",
    "archive_restored": "archive partitions brought back from exported files, and until when they stay",
}
# short-lived state a restored stack does without: logins in flight, replay protection of signed ML requests (past
# their clock tolerance by then), the outbox relay's pause flag (set afresh at start)
TRANSIENT = {"oidc_pending": "external logins in flight", "oidc_login_codes": "one-time login codes (a minute)",
             "request_signatures": "signed requests seen within the clock tolerance",
             "outbox_control": "the relay's pause flag"}
# rows of a table that is otherwise derived: the notifier's own positions go with its journal
PARTS = {"projection_offsets": "SELECT * FROM projection_offsets WHERE projection LIKE 'notify-%'"}
# every other table is rebuilt or recreated: read models (projections.catalog), the other projections' positions,
# schema_migrations (a restore migrates its empty database)
ARCHIVE_ENDS = 'SELECT topic, partition, max("offset") + 1 FROM event_archive GROUP BY topic, partition'


class BackupInvalid(Exception):
    """A backup that cannot be trusted: a missing, changed or unreadable file, or a format this code cannot read."""


@dataclass(frozen=True)
class TableCopy:
    name: str
    query: sql.Composable


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


async def existing_tables(conn: psycopg.AsyncConnection) -> set[str]:
    rows = await (await conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        " AND table_type = 'BASE TABLE'")).fetchall()
    return {name for (name,) in rows}


async def one(conn: psycopg.AsyncConnection, query: str) -> tuple[Any, ...]:
    row = await (await conn.execute(query)).fetchone()
    assert row is not None
    return tuple(row)


def copies(existing: set[str]) -> list[TableCopy]:
    found = [TableCopy(name, sql.SQL("SELECT * FROM {}").format(sql.Identifier(name)))
             for name in SOURCES if name in existing]
    found += [TableCopy(name, sql.SQL(query)) for name, query in PARTS.items() if name in existing]
    return found


async def copy_table(cur: psycopg.AsyncCursor[Any], table: TableCopy, dest: Path) -> dict[str, Any]:
    """COPY the table's rows into a gzip file; its row count (COPY text: one line per row), columns and checksum."""
    await cur.execute(sql.SQL("SELECT * FROM ({}) t LIMIT 0").format(table.query))
    columns = [c.name for c in cur.description or ()]
    path = dest / "tables" / f"{table.name}.copy.gz"
    rows = 0
    with gzip.open(path, "wb", compresslevel=6) as out:
        async with cur.copy(sql.SQL("COPY ({}) TO STDOUT").format(table.query)) as copy:
            async for chunk in copy:
                out.write(chunk)
                rows += bytes(chunk).count(b"\n")
    return {"file": str(path.relative_to(dest)), "rows": rows, "columns": columns, "sha256": sha256_of(path),
            "bytes": path.stat().st_size}


def copy_files(files_dir: Path, dest: Path) -> dict[str, dict[str, Any]]:
    """The upload store as it is (content-addressed: the name is the sha256 of the bytes)."""
    found: dict[str, dict[str, Any]] = {}
    if not files_dir.is_dir():
        return found
    for source in sorted(files_dir.rglob("*")):
        if not source.is_file() or source.name.startswith("."):  # .upload-*: an upload still being written
            continue
        relative = Path("files") / source.relative_to(files_dir)
        (dest / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest / relative)
        found[str(relative)] = {"sha256": sha256_of(dest / relative), "bytes": (dest / relative).stat().st_size}
    return found


async def write_backup(database_url: str, files_dir: Path, dest: Path) -> dict[str, Any]:
    """Write the backup into `dest` (which must not exist or be empty); returns the manifest."""
    if dest.exists() and any(dest.iterdir()):
        raise SystemExit(f"{dest} is not empty: a backup goes into a new or empty directory")
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "tables").mkdir(parents=True)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await conn.set_isolation_level(psycopg.IsolationLevel.SERIALIZABLE)
        await conn.set_read_only(True)
        await conn.set_deferrable(True)
        async with conn.transaction(), conn.cursor() as cur:
            snapshot, schema = await one(conn, "SELECT now(), (SELECT max(version) FROM schema_migrations)")
            tables = {t.name: await copy_table(cur, t, partial) for t in copies(await existing_tables(conn))}
            ends = {f"{t}:{p}": end for t, p, end in await (await conn.execute(ARCHIVE_ENDS)).fetchall()}
    manifest = {"format": FORMAT, "created_at": datetime.now(UTC).isoformat(), "snapshot_at": snapshot.isoformat(),
                "app_version": version("opsledger"), "schema_version": schema, "tables": tables,
                "files": copy_files(files_dir, partial), "archive_ends": ends,
                "not_included": ["read models: `opsledger restore` rebuilds them from the log",
                                 "the Fernet key of the device secrets (OPSLEDGER_SECRETS_KEYS / <data>/secrets-key)",
                                 "the JWT signing secret: users sign in again after a restore"]}
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    (partial / MANIFEST).write_text(text)
    (partial / MANIFEST_SUM).write_text(f"{hashlib.sha256(text.encode()).hexdigest()}  {MANIFEST}\n")
    if dest.exists():
        dest.rmdir()
    os.replace(partial, dest)
    return manifest


def verify(src: Path) -> dict[str, Any]:
    """Check the manifest's checksum, then every file's; return the manifest, or raise BackupInvalid saying what."""
    try:
        text = (src / MANIFEST).read_text()
        wanted = (src / MANIFEST_SUM).read_text().split()[0]
    except (OSError, IndexError) as e:
        raise BackupInvalid(f"{src} is not a backup: {MANIFEST} or {MANIFEST_SUM} is missing or unreadable") from e
    if hashlib.sha256(text.encode()).hexdigest() != wanted:
        raise BackupInvalid(f"{MANIFEST} does not match {MANIFEST_SUM}: the backup was changed or damaged")
    manifest: dict[str, Any] = json.loads(text)
    if manifest.get("format") != FORMAT:
        raise BackupInvalid(f"backup format {manifest.get('format')!r}; this opsledger reads format {FORMAT}")
    listed = [(entry["file"], entry) for entry in manifest["tables"].values()] + list(manifest["files"].items())
    for relative, entry in listed:
        path = src / relative
        if not path.is_file():
            raise BackupInvalid(f"{relative} is missing from the backup")
        if path.stat().st_size != entry["bytes"] or sha256_of(path) != entry["sha256"]:
            raise BackupInvalid(f"{relative} does not match its checksum in {MANIFEST}: the backup was changed or "
                                "damaged")
    return manifest
