"""Image reads: the list (filters, keyset paging), one image with its uploads and near-duplicates, the pipeline's
status. Workers see the images of their own ingress readings only (as they see only their own readings); location
(GPS fields, the `near` and `has_gps` filters) is for admins and operators."""

from __future__ import annotations

import math
import uuid
from typing import Annotated, Literal

import structlog
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from api.deps import DbConn, Pool, SettingsDep, consistent_with
from api.fields import Instant
from api.filters import Where
from api.identity.principal import CurrentPrincipal, Principal
from api.paging import newest_first, time_cursor
from api.problems import Problem
from api.routes.images.models import (
    CameraHealthOut,
    DuplicateOut,
    ImageOut,
    ImagePage,
    ImagesStatus,
    UploadOut,
    image_out,
    sees_location,
)
from api.shared import SharedAnswer
from infra.kafka import end_offsets
from infra.settings import Settings
from projections.catalog import applied_offsets
from schemas.images.events import SubjectType
from schemas.topics import IMAGE_ANALYSES, IMAGE_HEALTH, IMAGE_SNAPSHOTS, IMAGE_UPLOADS

router = APIRouter(prefix="/api/images", tags=["images"])
log = structlog.get_logger(__name__)
TOPICS = (IMAGE_UPLOADS, IMAGE_ANALYSES, IMAGE_SNAPSHOTS, IMAGE_HEALTH)
Consistent = Depends(consistent_with("images", TOPICS))
SELECT = "SELECT * FROM images i"
EARTH_KM = 6371.0088
# a worker's view: images with at least one upload that is not about an ingress reading, or is their own
WORKER_VISIBLE = ("EXISTS (SELECT 1 FROM image_uploads u WHERE u.image_id = i.image_id"
                  " AND (u.subject_type <> 'ingress' OR u.uploaded_by = %s))")
DISTANCE_KM = (f"2 * {EARTH_KM} * asin(sqrt(power(sin(radians(i.gps_latitude - %s) / 2), 2) + cos(radians(%s))"
               " * cos(radians(i.gps_latitude)) * power(sin(radians(i.gps_longitude - %s) / 2), 2)))")


def visible(where: Where, principal: Principal) -> None:
    if principal.kind == "user" and principal.role == "worker":
        where.add(WORKER_VISIBLE, principal.actor)


def near_filter(where: Where, near: str) -> None:
    """`lat,lon,km`: within km of the point (great circle); a bounding box first, so the index narrows it."""
    try:
        lat, lon, km = (float(part) for part in near.split(","))
    except ValueError as e:
        raise Problem(400, "near must be lat,lon,km (decimal degrees and kilometres).") from e
    if not (-90 <= lat <= 90 and -180 <= lon <= 180 and 0 < km <= 20_100) or math.isnan(lat + lon + km):
        raise Problem(400, "near: latitude -90..90, longitude -180..180, 0 < km <= 20100.")
    span = km / 111.2
    where.add("i.gps_latitude BETWEEN %s AND %s", lat - span, lat + span)
    widest = math.cos(math.radians(min(89.9, abs(lat) + span)))
    lon_span = km / (111.32 * widest)
    if lon_span < 180 and -180 <= lon - lon_span and lon + lon_span <= 180:  # no wrap across the antimeridian
        where.add("i.gps_longitude BETWEEN %s AND %s", lon - lon_span, lon + lon_span)
    where.add(f"{DISTANCE_KM} <= %s", lat, lat, lon, km)


@router.get("", response_model=ImagePage, dependencies=[Consistent])
async def list_images(
    conn: DbConn, principal: CurrentPrincipal,
    subject_type: SubjectType | None = None, subject_id: Annotated[str | None, Query(max_length=100)] = None,
    uploaded_from: Instant | None = None, uploaded_to: Instant | None = None,
    taken_from: Instant | None = None, taken_to: Instant | None = None,
    make: Annotated[str | None, Query(max_length=200)] = None,
    model: Annotated[str | None, Query(max_length=200)] = None,
    has_gps: bool | None = None, near: Annotated[str | None, Query(max_length=100, description="lat,lon,km")] = None,
    status: Literal["pending", "analysed", "rejected"] | None = None, duplicate_of: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50, cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> ImagePage:
    """Newest first (by first upload). Taken times without an offset are compared as if UTC."""
    if (near is not None or has_gps is not None) and not sees_location(principal):
        raise Problem(403, "Filtering by location is for admins and operators.")
    where = Where("i.first_uploaded_at IS NOT NULL")
    visible(where, principal)
    if subject_type is not None or subject_id is not None:
        where.add("EXISTS (SELECT 1 FROM image_uploads s WHERE s.image_id = i.image_id"
                  " AND (%s::text IS NULL OR s.subject_type = %s) AND (%s::text IS NULL OR s.subject_id = %s))",
                  subject_type, subject_type, subject_id, subject_id)
    for value, clause in ((uploaded_from, "i.first_uploaded_at >= %s"), (uploaded_to, "i.first_uploaded_at < %s"),
                          (taken_from, "i.taken_sort >= %s"), (taken_to, "i.taken_sort < %s"),
                          (make, "lower(i.make) = lower(%s)"), (model, "lower(i.model) = lower(%s)"),
                          (status, "i.status = %s"),
                          (duplicate_of, "i.image_id IN (SELECT duplicate_id FROM image_duplicates WHERE image_id"
                                         " = %s)")):
        where.when(value, clause)
    if has_gps is not None:
        where.add("(i.gps_latitude IS NOT NULL) = %s", has_gps)
    if near is not None:
        near_filter(where, near)
    newest_first(where, cursor, "i.first_uploaded_at, i.image_id")
    query = sql.SQL(SELECT) + where.sql() + sql.SQL(" ORDER BY i.first_uploaded_at DESC, i.image_id DESC LIMIT %s")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, [*where.params, limit + 1])
        rows = await cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = time_cursor(rows[-1]["first_uploaded_at"], rows[-1]["image_id"]) if more else None
    return ImagePage(items=[image_out(r, principal) for r in rows], next_cursor=next_cursor)


async def topic_ends(settings: Settings) -> dict[TopicPartition, int] | None:
    """The end offsets of the images topics; None while the broker cannot be reached (logged)."""
    try:
        return await end_offsets(settings.kafka_bootstrap_servers, TOPICS)
    except (KafkaError, OSError, TimeoutError) as e:  # the broker is away: say so, not 500
        log.warning("images.status.broker_unreachable", error=f"{type(e).__name__}: {e}")
        return None


async def shared_ends(app: FastAPI, settings: Settings) -> dict[TopicPartition, int]:
    """The images topics' ends, shared by every caller for OPSLEDGER_READY_CACHE_S as /readyz shares its verdict: the
    status is open to every role and each question starts a broker consumer. A failure is kept as long (503)."""
    shared: SharedAnswer[dict[TopicPartition, int] | None] | None = getattr(app.state, "image_ends", None)
    if shared is None:
        shared = app.state.image_ends = SharedAnswer()
    ends = await shared.get(settings.ready_cache_s, lambda: topic_ends(settings))
    if ends is None:
        wait = math.ceil(shared.seconds_left(settings.ready_cache_s))
        raise Problem(503, "The event log cannot be reached right now, so the analysis lag is unknown; retry "
                           "shortly.", headers={"Retry-After": str(max(1, wait))})
    return ends


@router.get("/status", response_model=ImagesStatus)
async def images_status(request: Request, pool: Pool, settings: SettingsDep) -> ImagesStatus:
    """Counts by status, how far analysis is behind, throughput, cameras whose picture is degraded. The lag counts
    the log's ends as of at most OPSLEDGER_READY_CACHE_S ago; 503 while the broker cannot be reached."""
    ends = await shared_ends(request.app, settings)  # before taking a connection: never hold one while waiting
    async with pool.connection() as conn:
        counts: dict[str, int] = dict(await (await conn.execute(
            "SELECT status, count(*) FROM images GROUP BY status")).fetchall())
        oldest, minute, hour = await (await conn.execute(
            "SELECT (SELECT extract(epoch FROM now() - min(first_uploaded_at)) FROM images WHERE status = 'pending'),"
            " (SELECT count(*) FROM images WHERE analysed_at > now() - interval '1 minute'),"
            " (SELECT count(*) FROM images WHERE analysed_at > now() - interval '1 hour')")).fetchone() or (None, 0, 0)
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute("SELECT camera_id, kind, since, detail FROM camera_image_health WHERE degraded"
                              " ORDER BY since DESC LIMIT 500")
            degraded = [CameraHealthOut(**r) for r in await cur.fetchall()]
        applied = await applied_offsets(conn)
    lag = sum(max(0, end - applied.get(("images", tp.topic, tp.partition), 0)) for tp, end in ends.items())
    return ImagesStatus(counts={s: counts.get(s, 0) for s in ("pending", "analysed", "rejected")},
                        pending_oldest_age_s=float(oldest) if oldest is not None else None,
                        analysed_last_minute=minute, analysed_last_hour=hour,
                        analysed_per_s_last_minute=round(minute / 60, 3), projection_lag=lag,
                        degraded_cameras=degraded)


async def load_image(pool: AsyncConnectionPool, image_id: uuid.UUID, principal: Principal) -> ImageOut:
    """One image with its uploads and near-duplicates (those the caller may see); 404 when absent or not theirs."""
    where = Where("i.image_id = %s")
    where.params.append(image_id)
    visible(where, principal)
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql.SQL(SELECT) + where.sql(), where.params)
        row = await cur.fetchone()
        if row is None or row["first_uploaded_at"] is None:
            raise Problem(404, f"No image {image_id}.")
        await cur.execute("SELECT * FROM image_uploads WHERE image_id = %s ORDER BY uploaded_at, upload_id",
                          (image_id,))
        uploads = [UploadOut(**{k: v for k, v in u.items() if k in UploadOut.model_fields})
                   for u in await cur.fetchall()]
        others = Where("d.image_id = %s")
        others.params.append(image_id)
        visible(others, principal)
        await cur.execute(sql.SQL("SELECT d.duplicate_id AS image_id, d.distance FROM image_duplicates d"
                                  " JOIN images i ON i.image_id = d.duplicate_id") + others.sql()
                          + sql.SQL(" ORDER BY d.distance, d.duplicate_id"), others.params)
        duplicates = [DuplicateOut(**d) for d in await cur.fetchall()]
    if principal.kind == "user" and principal.role == "worker":
        uploads = [u for u in uploads if u.subject_type != "ingress" or u.uploaded_by == principal.actor]
    image = image_out(row, principal)
    return image.model_copy(update={"upload_list": uploads, "duplicates": duplicates})


@router.get("/{image_id}", response_model=ImageOut, dependencies=[Consistent])
async def get_image(image_id: uuid.UUID, request: Request, principal: CurrentPrincipal) -> ImageOut:
    return await load_image(request.app.state.pool, image_id, principal)
