"""Images (the Janus pipeline): upload (content-addressed; the processor analyses it), list, one, the pipeline's
status. Thumbnails and originals: api/routes/images/files.py."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Annotated

import psycopg
from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from api.commands import emit
from api.consistency import decode_token, poll, wait_applied
from api.deps import DbConn, Pool, Producer, SettingsDep
from api.identity.principal import CurrentPrincipal, Principal
from api.problems import Problem
from api.routes.images.models import SUBJECT_TABLES, ImageAccepted, ImageOut
from api.routes.images.reads import TOPICS, load_image
from infra.filestore import ANY_IMAGE, TooLarge, WrongContent, image_format, path_for, store
from producers.images.commands import uploaded
from schemas.cylinders.events import QR_CODE
from schemas.envelope import Envelope
from schemas.images.events import ImageUploaded, SubjectType

router = APIRouter(prefix="/api/images", tags=["images"])
Caption = Annotated[str | None, Form(max_length=1000)]
SubjectId = Annotated[str | None, Form(min_length=1, max_length=100)]


async def check_subject(conn: psycopg.AsyncConnection, subject_type: SubjectType, subject_id: str | None,
                        principal: Principal) -> str | None:
    """The subject as stored (422 when it is malformed or unknown); a worker attaches to their own readings only."""
    if subject_type == "none":
        if subject_id is not None:
            raise Problem(422, "subject_id needs a subject_type other than none.")
        return None
    if subject_id is None:
        raise Problem(422, f"subject_type {subject_type} needs a subject_id.")
    if subject_type == "cylinder":
        if not re.match(QR_CODE, subject_id):
            raise Problem(422, "A cylinder subject_id is its QR code (CYL-...).")
    else:
        try:
            subject_id = str(uuid.UUID(subject_id))
        except ValueError as e:
            raise Problem(422, f"A {subject_type} subject_id is a UUID.") from e
    row = await (await conn.execute(SUBJECT_TABLES[subject_type], (subject_id,))).fetchone()
    worker = principal.kind == "user" and principal.role == "worker"
    if row is None or (subject_type == "ingress" and worker and row[0] != principal.actor):
        raise Problem(422, f"No {subject_type} {subject_id} to attach the image to.")
    return subject_id


async def wait_outcome(pool: Pool, image_id: uuid.UUID, timeout_s: float) -> None:
    """Until the processor's analysis (or refusal) of the image is in the read model; 504 after timeout_s."""
    async def decided(conn: psycopg.AsyncConnection) -> bool:
        row = await (await conn.execute("SELECT status FROM images WHERE image_id = %s", (image_id,))).fetchone()
        return row is not None and row[0] != "pending"

    if not await poll(pool, decided, timeout_s):
        raise Problem(504, f"The image was stored but its analysis is not done within {timeout_s:g} s; read "
                           f"/api/images/{image_id} later.", title="Not yet consistent", image_id=str(image_id))


@router.post("", response_model=ImageAccepted | ImageOut, status_code=202,
             responses={201: {"model": ImageOut, "description": "with ?wait=true: stored and analysed"},
                        422: {"description": "bad subject; with ?wait=true also: stored but refused by analysis"}})
async def upload(file: Annotated[UploadFile, File()], request: Request, response: Response, pool: Pool,
                 conn: DbConn, settings: SettingsDep, producer: Producer, principal: CurrentPrincipal,
                 subject_type: Annotated[SubjectType, Form()] = "none", subject_id: SubjectId = None,
                 caption: Caption = None, wait: bool = False) -> ImageAccepted | ImageOut:
    """Store an image (JPEG, PNG, WebP, GIF, TIFF, HEIF; by content, whatever the declared type) and have it
    analysed. The same bytes twice are one image with two uploads."""
    subject = await check_subject(conn, subject_type, subject_id, principal)
    try:
        sha, size = await asyncio.to_thread(store, settings.upload_dir, file.file, settings.max_upload_bytes,
                                            ANY_IMAGE)
    except TooLarge as e:
        raise Problem(413, f"Images may be at most {settings.max_upload_bytes} bytes.") from e
    except WrongContent as e:
        raise Problem(415, "The content is not an image we take (JPEG, PNG, WebP, GIF, TIFF or HEIF).") from e
    with path_for(settings.upload_dir, sha).open("rb") as stored:
        kind = image_format(stored.read(16)) or ""
    event = uploaded(sha, size, kind, file.content_type or "", file.filename or "", subject_type=subject_type,
                     subject_id=subject, caption=caption, actor=principal.actor,
                     correlation_id=request.state.request_id)
    return await answer_upload(request, response, pool, settings, producer, principal, event, wait=wait)


async def answer_upload(request: Request, response: Response, pool: Pool, settings: SettingsDep, producer: Producer,
                        principal: Principal, event: Envelope, *, wait: bool) -> ImageAccepted | ImageOut:
    """Emit an ImageUploaded: 202 with the image id and a consistency token; with `wait`, 201 with the analysed image
    (422 when analysis refused the file). Also the answer of a camera snapshot."""
    assert isinstance(event.data, ImageUploaded)
    image_id = event.data.image_id
    accepted = await emit(request, response, producer, [event], location=f"/api/images/{image_id}")
    if not wait:
        return ImageAccepted(**accepted.model_dump(), image_id=image_id)
    await wait_applied(pool, "images", TOPICS, decode_token(accepted.consistency_token or ""),
                       settings.consistency_timeout_s)
    await wait_outcome(pool, image_id, settings.consistency_timeout_s)
    image = await load_image(pool, image_id, principal)
    if image.status == "rejected":
        raise Problem(422, f"The image was stored but refused: {image.reject_reason}", image_id=str(image_id),
                      reject_code=image.reject_code)
    response.status_code = 201
    return image
