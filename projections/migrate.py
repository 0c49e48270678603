"""Versioned SQL migrations (projections/migrations/NNNN_name.sql), applied once each, in order, at start."""

from __future__ import annotations

from importlib import resources

import psycopg
import structlog

log = structlog.get_logger(__name__)

LOCK_ID = 0x0A5_1ED6E5  # one migrator at a time across processes


def migration_files() -> list[tuple[int, str, str]]:
    folder = resources.files("projections") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text()))
    versions = [version for version, _, _ in found]
    clash = sorted({v for v in versions if versions.count(v) > 1})
    if clash:  # two files of one version: the second would be skipped silently as "already applied"
        raise RuntimeError(f"migrations share a version number: {clash}")
    return sorted(found)


def migrate(database_url: str) -> list[str]:
    applied_now = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_ID,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
            for version, name, sql in migration_files():
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(sql.encode())
                    conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
                applied_now.append(name)
                log.info("migration.applied", name=name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_ID,))
    return applied_now
