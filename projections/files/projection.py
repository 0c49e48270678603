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
INSERT_UPLOADER = sql.SQL(
    "INSERT INTO {uploaders} (sha256, uploaded_by, uploaded_at) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
)


class FilesProjection:
    name = "files"
    topics = (FILES,)
    tables = ("files", "file_uploaders")
    decode = True

    async def apply(self, conn: psycopg.AsyncConnection, records: Sequence[Record], tables: Tables) -> None:
        rows = [
            (d.sha256, d.size_bytes, d.content_type, d.original_name, r.event.occurred_at, r.event.actor)
            for r in records if r.event is not None and isinstance(d := r.event.data, FileUploaded)
        ]
        if rows:
            async with conn.cursor() as cur:
                await cur.executemany(INSERT_FILE.format(files=tables["files"]), rows)
                # every uploader of the same bytes, not only the first: each may download what they uploaded
                await cur.executemany(INSERT_UPLOADER.format(uploaders=tables["file_uploaders"]),
                                      [(row[0], row[5], row[4]) for row in rows if row[5] is not None])
