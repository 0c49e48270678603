"""Exported archive partitions: a week of the event archive as one gzip-compressed JSON-lines file, written before
the partition is dropped (`opsledger retention`), with a sidecar holding its SHA-256 and what it covers; read back
into the archive for analysts (`opsledger archive restore FILE`) and, by an embedded broker's restore, to produce
those records again at their offsets.

A line is one record, in (topic, partition, offset) order: `seq`, `topic`, `partition`, `offset`, `timestamp_ms`,
`key` and `value` (base64, or null; `value` only for records that are not events), `headers` and `envelope` (the
event's exact JSON text).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg import sql

from projections.archive import ARCHIVE_LAYOUT, envelope_columns
from projections.partitions import Partition, ensure, partition_name

COLUMNS = ("seq", "topic", "partition", "offset", "timestamp_ms", "key", "value", "headers", "envelope")
READ = sql.SQL('SELECT seq, topic, partition, "offset", timestamp_ms, key, value, headers, envelope::text FROM {}'
               ' ORDER BY topic, partition, "offset"')
SUFFIX = ".jsonl.gz"


@dataclass(frozen=True)
class Exported:
    path: Path
    sha256: str
    records: int
    ends: dict[str, int]  # "topic:partition" -> the offset after the last one in the file


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _line(row: tuple[Any, ...]) -> bytes:
    seq, topic, partition, offset, ts, key, value, headers, envelope = row
    return orjson.dumps({"seq": seq, "topic": topic, "partition": partition, "offset": offset, "timestamp_ms": ts,
                         "key": base64.b64encode(key).decode() if key is not None else None,
                         "value": base64.b64encode(value).decode() if value is not None else None,
                         "headers": headers, "envelope": envelope}) + b"\n"


async def export(conn: psycopg.AsyncConnection, partition: Partition, folder: Path) -> Exported:
    """Write the partition's records to `<folder>/<partition>.jsonl.gz` (then its sidecar), atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{partition.name}{SUFFIX}"
    partial = path.with_name(path.name + ".partial")
    ends: dict[str, int] = {}
    records = 0
    with gzip.open(partial, "wb", compresslevel=6) as out:
        async with conn.cursor(name=f"export_{partition.name}") as cur:
            await cur.execute(READ.format(sql.Identifier(partition.name)))
            while rows := await cur.fetchmany(5000):
                for row in rows:
                    out.write(_line(row))
                    ends[f"{row[1]}:{row[2]}"] = row[3] + 1
                records += len(rows)
    digest = hashlib.sha256(partial.read_bytes()).hexdigest()
    os.replace(partial, path)
    meta = {"partition": partition.name, "sha256": digest, "records": records, "ends": ends,
            "start": partition.start.isoformat() if partition.start else None,
            "end": partition.end.isoformat() if partition.end else None}
    sidecar(path).write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))
    return Exported(path, digest, records, ends)


def verified(path: Path) -> dict[str, Any]:
    """The sidecar's description of the file, once the file's SHA-256 matches it (ValueError otherwise)."""
    meta: dict[str, Any] = orjson.loads(sidecar(path).read_bytes())
    if hashlib.sha256(path.read_bytes()).hexdigest() != meta["sha256"]:
        raise ValueError(f"{path} does not match the SHA-256 in {sidecar(path).name}: corrupt or altered")
    return meta


def records(path: Path) -> Iterator[tuple[str, int, int, int, bytes | None, bytes | None, str | None, int]]:
    """(topic, partition, offset, timestamp_ms, key, value bytes, headers JSON, seq) of each record, in order."""
    with gzip.open(path, "rb") as lines:
        for line in lines:
            r = orjson.loads(line)
            key = base64.b64decode(r["key"]) if r["key"] is not None else None
            value = base64.b64decode(r["value"]) if r["value"] is not None else (
                r["envelope"].encode() if r["envelope"] is not None else None)
            headers = orjson.dumps(r["headers"]).decode() if r["headers"] is not None else None
            yield r["topic"], r["partition"], r["offset"], r["timestamp_ms"], key, value, headers, r["seq"]


def exported_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []


def row_of(record: tuple[str, int, int, int, bytes | None, bytes | None, str | None, int]) -> tuple[Any, ...]:
    """The archive row of a record read from a file (the envelope's columns derived as the projection does)."""
    topic, partition, offset, ts, key, value, headers, seq = record
    columns = envelope_columns(value)
    stored_value = None if columns[-1] is not None else value
    return (seq, topic, partition, offset, ts, key, stored_value, headers, *columns)


STAGE = "CREATE TEMP TABLE IF NOT EXISTS archive_restore_stage (LIKE event_archive) ON COMMIT DROP"
COPY_STAGE = ("COPY archive_restore_stage (seq, topic, partition, \"offset\", timestamp_ms, key, value, headers,"
              " event_id, type, subject, occurred_at, recorded_at, envelope) FROM STDIN")
MERGE = ("INSERT INTO event_archive OVERRIDING SYSTEM VALUE SELECT * FROM archive_restore_stage"
         " ON CONFLICT DO NOTHING")
HOLD = ("INSERT INTO archive_restored (partition, file, sha256, restored_at, until) VALUES (%s, %s, %s, now(), %s)"
        " ON CONFLICT (partition) DO UPDATE SET file = EXCLUDED.file, sha256 = EXCLUDED.sha256,"
        " restored_at = now(), until = EXCLUDED.until")


async def restore(conn: psycopg.AsyncConnection, path: Path, until: datetime) -> int:
    """Bring a verified file's records back into the archive (rows it still has are left as they are); its
    partitions are kept until `until`. Returns the records read."""
    meta = verified(path)
    rows = [row_of(r) for r in records(path)]
    moments = {datetime.fromtimestamp(row[4] / 1000, UTC) for row in rows}
    async with conn.transaction():
        await ensure(conn, "event_archive", ARCHIVE_LAYOUT, moments)
        await conn.execute(STAGE)
        async with conn.cursor() as cur:
            async with cur.copy(COPY_STAGE) as copy:
                for row in rows:
                    await copy.write_row(row)
            await cur.execute(MERGE)
            names = {partition_name("event_archive", ARCHIVE_LAYOUT.start_of(m)) for m in moments}
            await cur.executemany(HOLD, [(name, str(path), meta["sha256"], until) for name in sorted(names)])
    return len(rows)
