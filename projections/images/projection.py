"""The images read model: images (one row per content), their uploads, near-duplicate links, camera image health.

Idempotent and order-free where topics meet: an upload row is inserted once (its event id is the key) and only a new
one counts; the first analysis outcome of an image wins (later ones, from a second upload of the same bytes or a
redelivery, change nothing); an analysis applied before its upload (a replay reads both topics at once) makes the row,
which the upload completes. Near-duplicate links are symmetric, so whichever of two images is applied second finds the
first: the links do not depend on the order either.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg import sql

from projections.records import Record, Tables
from schemas.envelope import Envelope
from schemas.images.events import ImageAnalysed, ImageRejected, ImageUploaded
from schemas.images.health import (
    CameraImageDegraded,
    CameraImageRecovered,
    CameraSnapshotAnalysed,
    CameraSnapshotFailed,
)
from schemas.topics import IMAGE_ANALYSES, IMAGE_HEALTH, IMAGE_SNAPSHOTS, IMAGE_UPLOADS

NEAR_DUPLICATE_BITS = 6  # of 64: resized and recompressed copies measured at most 6 apart, other pictures 16+

INSERT_UPLOAD = sql.SQL(
    "INSERT INTO {uploads} (upload_id, image_id, subject_type, subject_id, caption, original_name, content_type, via,"
    " uploaded_at, uploaded_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (upload_id) DO NOTHING RETURNING upload_id")
COUNT_UPLOAD = sql.SQL(
    "INSERT INTO {images} AS i (image_id, sha256, size_bytes, format, uploads, first_uploaded_at, last_uploaded_at)"
    " VALUES (%s, %s, %s, %s, 1, %s, %s) ON CONFLICT (image_id) DO UPDATE SET size_bytes = EXCLUDED.size_bytes,"
    " format = EXCLUDED.format, uploads = i.uploads + 1,"
    " first_uploaded_at = LEAST(i.first_uploaded_at, EXCLUDED.first_uploaded_at),"
    " last_uploaded_at = GREATEST(i.last_uploaded_at, EXCLUDED.last_uploaded_at)")
ANALYSED_COLUMNS = ("width", "height", "orientation", "taken_at", "taken_local", "taken_offset_min", "taken_sort",
                    "make", "model", "lens_model", "exposure_time", "exposure_time_s", "f_number", "iso",
                    "focal_length_mm", "gps_latitude", "gps_longitude", "gps_altitude_m", "has_body_serial", "phash",
                    "phash_bits", "brightness", "contrast", "sharpness", "trailing_bytes", "notes", "thumb_128",
                    "thumb_512", "public_sha256")
OUTCOME_COLUMNS = ("status", "outcome_event_id", "analysed_at", "reject_code", "reject_reason")


def outcome_sql(columns: Sequence[str]) -> sql.SQL:
    """Insert or complete the image row with an analysis outcome, unless an earlier outcome already decided it.
    Column names are this module's constants; the table comes through {images}."""
    names = ("image_id", "sha256", *OUTCOME_COLUMNS, *columns)
    sets = ", ".join(f"{name} = EXCLUDED.{name}" for name in names[2:])
    return sql.SQL(f"INSERT INTO {{images}} AS i ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})"
                   f" ON CONFLICT (image_id) DO UPDATE SET {sets} WHERE i.status = 'pending' RETURNING image_id")


ANALYSED = outcome_sql(ANALYSED_COLUMNS)
REJECTED = outcome_sql(())
LINK_DUPLICATES = sql.SQL(
    "INSERT INTO {duplicates} (image_id, duplicate_id, distance)"
    " SELECT a, b, d FROM (SELECT i.image_id AS other, bit_count((i.phash_bits # %(bits)s)::bit(64)) AS d"
    " FROM {images} i WHERE i.status = 'analysed' AND i.image_id <> %(image)s) near,"
    " LATERAL (VALUES (%(image)s::uuid, near.other), (near.other, %(image)s::uuid)) AS pair(a, b)"
    " WHERE near.d <= %(limit)s ON CONFLICT DO NOTHING")
HEALTH = sql.SQL(
    "INSERT INTO {health} AS h (camera_id, kind, degraded, since, detail) VALUES (%s, %s, %s, %s, %s)"
    " ON CONFLICT (camera_id, kind) DO UPDATE SET degraded = EXCLUDED.degraded, since = EXCLUDED.since,"
    " detail = EXCLUDED.detail WHERE h.since < EXCLUDED.since")
SNAPSHOT = sql.SQL(
    "INSERT INTO {snapshots} AS s (camera_id, at, image_id, error) VALUES (%s, %s, %s, %s)"
    " ON CONFLICT (camera_id) DO UPDATE SET at = EXCLUDED.at, image_id = EXCLUDED.image_id, error = EXCLUDED.error"
    " WHERE s.at < EXCLUDED.at")


def signed_bits(phash: str) -> int:
    """A 16-hex-digit hash as the bigint Postgres stores (two's complement)."""
    value = int(phash, 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def taken_columns(taken: datetime | None) -> tuple[Any, ...]:
    """(aware time or None, wall time as written, offset in minutes, what range filters compare)."""
    if taken is None:
        return None, None, None, None
    offset = taken.utcoffset()
    if offset is None:
        return None, taken, None, taken.replace(tzinfo=UTC)
    return taken, taken.replace(tzinfo=None), int(offset.total_seconds() // 60), taken


def analysed_row(envelope: Envelope, d: ImageAnalysed) -> tuple[Any, ...]:
    return (d.image_id, d.sha256, "analysed", envelope.event_id, d.at, None, None, d.width, d.height, d.orientation,
            *taken_columns(d.taken_at), d.make, d.model, d.lens_model, d.exposure_time, d.exposure_time_s,
            d.f_number, d.iso, d.focal_length_mm, d.gps_latitude, d.gps_longitude, d.gps_altitude_m,
            d.has_body_serial, d.phash, signed_bits(d.phash), d.brightness, d.contrast, d.sharpness,
            d.trailing_bytes, orjson.dumps(list(d.notes)).decode(), d.thumbnails.get("128"), d.thumbnails.get("512"),
            d.public_sha256)


class ImagesProjection:
    name = "images"
    topics = (IMAGE_UPLOADS, IMAGE_ANALYSES, IMAGE_SNAPSHOTS, IMAGE_HEALTH)
    tables = ("images", "image_uploads", "image_duplicates", "camera_image_health", "camera_snapshots")
    decode = True

    async def apply(self, conn: psycopg.AsyncConnection, records: Sequence[Record], tables: Tables) -> None:
        async with conn.cursor() as cur:
            for record in records:
                if record.event is not None:
                    await self._apply_one(cur, record.event, tables)

    async def _apply_one(self, cur: psycopg.AsyncCursor[Any], envelope: Envelope, tables: Tables) -> None:
        d, images = envelope.data, tables["images"]
        if isinstance(d, ImageUploaded):
            await cur.execute(INSERT_UPLOAD.format(uploads=tables["image_uploads"]), (
                envelope.event_id, d.image_id, d.subject_type, d.subject_id, d.caption, d.original_name,
                d.content_type, d.via, d.at, envelope.actor))
            if await cur.fetchone() is not None:  # a new upload: counted once
                await cur.execute(COUNT_UPLOAD.format(images=images),
                                  (d.image_id, d.sha256, d.size_bytes, d.format, d.at, d.at))
        elif isinstance(d, ImageAnalysed):
            await cur.execute(ANALYSED.format(images=images), analysed_row(envelope, d))
            if await cur.fetchone() is not None:  # this analysis decided the image: link its near-duplicates
                await cur.execute(LINK_DUPLICATES.format(duplicates=tables["image_duplicates"], images=images),
                                  {"bits": signed_bits(d.phash), "image": d.image_id, "limit": NEAR_DUPLICATE_BITS})
        elif isinstance(d, ImageRejected):
            await cur.execute(REJECTED.format(images=images),
                              (d.image_id, d.sha256, "rejected", envelope.event_id, d.at, d.code, d.reason))
        elif isinstance(d, CameraImageDegraded | CameraImageRecovered):
            detail = d.detail if isinstance(d, CameraImageDegraded) else None
            await cur.execute(HEALTH.format(health=tables["camera_image_health"]),
                              (d.camera_id, d.kind, detail is not None, d.at, detail))
        elif isinstance(d, CameraSnapshotAnalysed):
            await cur.execute(SNAPSHOT.format(snapshots=tables["camera_snapshots"]),
                              (d.camera_id, d.taken_at, d.image_id, None))
        elif isinstance(d, CameraSnapshotFailed):
            await cur.execute(SNAPSHOT.format(snapshots=tables["camera_snapshots"]),
                              (d.camera_id, d.at, None, d.error))
