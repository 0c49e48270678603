"""An image's files: upright WebP thumbnails, and the original — without GPS, serial numbers and other personal
metadata for anyone below operator (the processor stored that copy); admins and operators may ask for the untouched
bytes. Only analysed images are served: a refused file (a polyglot, say) never leaves the store."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import FileResponse

from api.deps import DbConn, SettingsDep
from api.identity.principal import CurrentPrincipal
from api.problems import Problem
from api.routes.images.models import sees_location
from api.routes.images.reads import WORKER_VISIBLE, Consistent
from infra.filestore import path_for

router = APIRouter(prefix="/api/images", tags=["images"])
MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif",
               "TIFF": "image/tiff", "HEIF": "image/heif"}
FILE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/*": {"schema": {"type": "string", "format": "binary"}}}, "description": "the file"}}
ROW = ("SELECT status, reject_reason, format, sha256, thumb_128, thumb_512, public_sha256 FROM images i"
       " WHERE image_id = %s")


async def analysed_row(conn: DbConn, image_id: uuid.UUID, principal: CurrentPrincipal) -> tuple[str, ...]:
    worker = principal.kind == "user" and principal.role == "worker"
    query = ROW + (f" AND {WORKER_VISIBLE}" if worker else "")
    row = await (await conn.execute(query, (image_id, principal.actor) if worker else (image_id,))).fetchone()
    if row is None:
        raise Problem(404, f"No image {image_id}.")
    if row[0] == "pending":
        raise Problem(409, "The image is not analysed yet; try again shortly.")
    if row[0] == "rejected":
        raise Problem(409, f"The image was refused and is not served: {row[1]}")
    return tuple(row)


def served(settings: SettingsDep, sha256: str, media_type: str) -> Response:
    path = path_for(settings.upload_dir, sha256)
    if not path.is_file():
        raise Problem(404, "The file is no longer in the store.")
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "private, immutable",
                                                              "Content-Security-Policy": "sandbox"})


@router.get("/{image_id}/thumbnail", response_class=FileResponse, dependencies=[Consistent], responses=FILE)
async def thumbnail(image_id: uuid.UUID, conn: DbConn, settings: SettingsDep, principal: CurrentPrincipal,
                    size: Annotated[int, Query(description="128 or 512")] = 512) -> Response:
    """An upright WebP whose longer side is `size` (or the image's own, if smaller)."""
    if size not in (128, 512):
        raise Problem(422, "size must be 128 or 512.")
    row = await analysed_row(conn, image_id, principal)
    sha = row[4] if size == 128 else row[5]
    if sha is None:
        raise Problem(404, f"The image has no {size} px thumbnail.")
    return served(settings, sha, "image/webp")


@router.get("/{image_id}/original", response_class=FileResponse, dependencies=[Consistent], responses=FILE)
async def original(image_id: uuid.UUID, conn: DbConn, settings: SettingsDep, principal: CurrentPrincipal,
                   untouched: Annotated[bool, Query(description="admins and operators: the bytes as uploaded")] = False
                   ) -> Response:
    """The original without GPS, serial numbers, owner, maker notes, XMP and trailing data; `untouched=true`
    (admins and operators) gives the bytes as uploaded."""
    row = await analysed_row(conn, image_id, principal)
    media_type = MEDIA_TYPES.get(row[2], "application/octet-stream")
    if untouched or (row[6] is None and sees_location(principal)):
        if not sees_location(principal):
            raise Problem(403, "The untouched original (with its location and serial numbers) is for admins and "
                               "operators.")
        return served(settings, row[3], media_type)
    if row[6] is None:
        raise Problem(403, f"This {row[2]} image's location and serial tags cannot be removed in place; its "
                           "thumbnails are served, the original only to admins and operators.")
    return served(settings, row[6], media_type)
