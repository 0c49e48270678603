"""The event archive: every record of every topic (malformed ones too, as bytes), in broker order."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg import sql

from projections.partitions import MONDAY_S, Layout, ensure, name_of
from projections.records import Record, Tables

COPY_ARCHIVE = sql.SQL(
    "COPY {archive} (topic, partition, \"offset\", timestamp_ms, key, value, headers, event_id, type, subject,"
    " occurred_at, recorded_at, envelope) FROM STDIN"
)


ARCHIVE_LAYOUT = Layout(span_s=7 * 86_400, origin_s=MONDAY_S, millis=True)  # a week of record time per partition
NOTIFY_CHANNEL = "opsledger_archive"
# Sent in the batch's transaction, so Postgres delivers it at commit: a listener (the API's live push) reads the new
# rows as soon as they are visible. Identical notifications in one transaction are folded into one.
NOTIFY_ARCHIVED = sql.SQL("NOTIFY {}").format(sql.Identifier(NOTIFY_CHANNEL))


def _clean(text: Any) -> str | None:
    return text if isinstance(text, str) and "\x00" not in text and len(text) < 10_000 else None


SURROGATE_OR_NUL = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")  # escapes Postgres text may refuse


def envelope_columns(value: bytes | None) -> tuple[Any, ...]:
    """(event_id, type, subject, occurred_at, recorded_at, envelope) when the bytes look like an event."""
    if not value or SURROGATE_OR_NUL.search(value):
        return (None,) * 6
    try:
        body = orjson.loads(value)
        if not isinstance(body, dict):
            return (None,) * 6
        return (
            uuid.UUID(str(body.get("event_id"))),
            _clean(body.get("type")),
            _clean(body.get("subject")),
            datetime.fromisoformat(str(body["occurred_at"])) if "occurred_at" in body else None,
            datetime.fromisoformat(str(body["recorded_at"])) if "recorded_at" in body else None,
            value.decode(),
        )
    except (ValueError, TypeError, UnicodeDecodeError, orjson.JSONDecodeError):
        return (None,) * 6


def headers_json(headers: tuple[tuple[str, bytes], ...]) -> str | None:
    if not headers:
        return None
    return orjson.dumps({k: v.decode("utf-8", "replace").replace("\x00", "") for k, v in headers}).decode()


class ArchiveProjection:
    name = "archive"
    tables = ("event_archive",)
    decode = False

    def __init__(self, topics: Sequence[str]) -> None:
        self.topics = tuple(topics)  # infra.topics.platform_topics(app id): the changelogs' names need the app id

    async def apply(self, conn: psycopg.AsyncConnection, records: Sequence[Record], tables: Tables) -> None:
        if not records:
            return
        await ensure(conn, name_of(tables["event_archive"]), ARCHIVE_LAYOUT,
                     {datetime.fromtimestamp(r.timestamp_ms / 1000, UTC) for r in records})
        async with conn.cursor() as cur:
            async with cur.copy(COPY_ARCHIVE.format(archive=tables["event_archive"])) as copy:
                for r in records:
                    columns = envelope_columns(r.value)
                    value = None if columns[-1] is not None else r.value  # an event's bytes are its envelope text
                    await copy.write_row((r.topic, r.partition, r.offset, r.timestamp_ms, r.key, value,
                                          headers_json(r.headers), *columns))
        await conn.execute(NOTIFY_ARCHIVED)
