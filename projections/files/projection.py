"""The files read model: metadata of every stored upload."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

from projections.records import Record, Tables
from schemas.files.events import FileUploaded
from schemas.topics import FILES

INSERT_FILE = sql.SQL(
    "INSERT INTO {files} (sha256, size_bytes, content_type, original_name, uploaded_at, uploaded_by)"
    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (sha256) DO NOTHING"
)


class FilesProjection:
    name = "files"
    topics = (FILES,)
    tables = ("files",)
    decode = True

    async def apply(self, conn: psycopg.AsyncConnection, records: Sequence[Record], tables: Tables) -> None:
        rows = [
            (d.sha256, d.size_bytes, d.content_type, d.original_name, r.event.occurred_at, r.event.actor)
            for r in records if r.event is not None and isinstance(d := r.event.data, FileUploaded)
        ]
        if rows:
            async with conn.cursor() as cur:
                await cur.executemany(INSERT_FILE.format(files=tables["files"]), rows)
