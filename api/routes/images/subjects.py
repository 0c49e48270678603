"""Images in the history of what they belong to: the ingress reading and cylinder histories list the uploads made
about them (a camera's or device's images are `GET /api/images?subject_type=camera&subject_id=`)."""

from __future__ import annotations

import bisect
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

SUBJECT_IMAGES = (
    "SELECT u.upload_id, u.image_id, u.uploaded_at, u.uploaded_by, u.caption, u.original_name, u.via, i.status"
    " FROM image_uploads u JOIN images i USING (image_id) WHERE u.subject_type = %s AND u.subject_id = %s"
    " ORDER BY u.uploaded_at, u.upload_id")


async def subject_images(conn: psycopg.AsyncConnection, subject_type: str, subject_id: str) -> list[dict[str, Any]]:
    """Each upload about the subject, oldest first: its id, time, who, and what a history entry shows."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(SUBJECT_IMAGES, (subject_type, subject_id))
        rows = await cur.fetchall()
    return [{"upload_id": r["upload_id"], "at": r["uploaded_at"], "actor": r["uploaded_by"], "data": {
        "image_id": str(r["image_id"]), "caption": r["caption"], "original_name": r["original_name"],
        "via": r["via"], "status": r["status"], "image": f"/api/images/{r['image_id']}",
        "thumbnail": f"/api/images/{r['image_id']}/thumbnail?size=128"}} for r in rows]


def version_at(changes: list[tuple[datetime, int]], at: datetime) -> int:
    """The subject's version at a moment, from its (time, version) changes in time order (1 before the first)."""
    found = bisect.bisect_right([time for time, _ in changes], at)
    return changes[found - 1][1] if found else 1
