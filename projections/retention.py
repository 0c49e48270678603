"""Retention, enforced by dropping whole time partitions (never row by row): each level of the metric read models
after its own time (OPSLEDGER_RETENTION_*), and the event archive after OPSLEDGER_RETENTION_ARCHIVE_DAYS — each of
its week partitions exported to a file first (projections/archive_files.py), so nothing is lost, only moved.
A partition brought back by `opsledger archive restore` stays until its hold ends, then goes again without a new
export (its file is still there). `opsledger retention` shows and applies the policy; `opsledger up` applies it
every OPSLEDGER_RETENTION_INTERVAL_S."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import structlog

from infra.settings import RetentionSettings
from projections.analytics.levels import MARGIN, levels
from projections.archive import ARCHIVE_LAYOUT
from projections.archive_files import export
from projections.partitions import Layout, Partition, drop, expired, partitions

log = structlog.get_logger(__name__)
ARCHIVE = "event_archive"
RESTORED = "SELECT partition, until FROM archive_restored"
FORGET_RESTORED = "DELETE FROM archive_restored WHERE partition = %s"
BOOKKEEPING = (  # rows that only matter for minutes: submissions awaiting their verdict, seen request signatures
    "DELETE FROM metric_submissions WHERE submitted_at < %s",
    "DELETE FROM request_signatures WHERE seen_at < %s",
)


@dataclass(frozen=True)
class Level:
    name: str
    table: str
    keep: timedelta | None
    layout: Layout


@dataclass(frozen=True)
class Planned:
    table: str
    partition: Partition
    export: bool  # archive partitions are written to a file before they go


def policy(settings: RetentionSettings) -> list[Level]:
    found = [Level(level.name, level.table, level.keep, level.layout) for level in levels(settings)]
    archive_keep = timedelta(days=settings.archive_days) if settings.archive_days > 0 else None
    return [*found, Level("archive", ARCHIVE, archive_keep, ARCHIVE_LAYOUT)]


async def plan(conn: psycopg.AsyncConnection, settings: RetentionSettings, now: datetime) -> list[Planned]:
    """Every partition past its level's retention (and its margin), oldest first."""
    restored: dict[str, datetime] = dict(await (await conn.execute(RESTORED)).fetchall())
    found = []
    for level in policy(settings):
        if level.keep is None:
            continue
        for partition in expired(await partitions(conn, level.table, level.layout), now - level.keep - MARGIN):
            hold = restored.get(partition.name)
            if hold is not None and hold > now:
                continue  # brought back for analysts: kept until its hold ends
            export = level.table == ARCHIVE and hold is None
            found.append(Planned(level.table, partition, export))
    return found


async def apply(database_url: str, settings: RetentionSettings, archive_dir: Path, now: datetime) -> list[Planned]:
    """Export what must be kept as a file, drop every planned partition, forget finished bookkeeping. A partition is
    dropped in its own transaction right after its file is safely written: a crash in between exports it again."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        done = await plan(conn, settings, now)
        for item in done:
            if item.export:
                written = await export(conn, item.partition, archive_dir)
                log.info("retention.exported", partition=item.partition.name, file=str(written.path),
                         records=written.records, sha256=written.sha256)
            async with conn.transaction():
                await drop(conn, item.partition)
                await conn.execute(FORGET_RESTORED, (item.partition.name,))
            log.info("retention.dropped", table=item.table, partition=item.partition.name)
        raw = next(level for level in levels(settings) if level.name == "raw")
        horizon = raw.horizon(now) or now - timedelta(days=2)
        for statement in BOOKKEEPING:
            await conn.execute(statement, (min(horizon, now - timedelta(hours=1)),))
    return done
