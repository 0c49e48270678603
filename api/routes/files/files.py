"""Attachments: upload (content-addressed), download."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, File, Path, Request, Response, UploadFile
from fastapi.responses import FileResponse

from api.commands import Accepted, emit
from api.consistency import decode_token, wait_applied
from api.deps import DbConn, Pool, Producer, SettingsDep, consistent_with
from api.identity.principal import CurrentPrincipal
from api.identity.rules import SEES_ALL_READINGS
from api.problems import Problem
from infra.filestore import TooLarge, WrongContent, path_for, store
from producers.files.commands import uploaded
from schemas.topics import FILES

router = APIRouter(prefix="/api/files", tags=["files"])
ANY_FILE = "SELECT content_type, size_bytes FROM files WHERE sha256 = %s"
# A worker's own uploads only. Naming a file in a reading proves nothing: a reading's attachments are addresses the
# worker typed, and anyone who learnt another's file address would otherwise fetch it by attaching it.
OWN_FILE = ANY_FILE + " AND EXISTS (SELECT 1 FROM file_uploaders WHERE sha256 = %s AND uploaded_by = %s)"
SHA = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]


@router.post("", response_model=Accepted, status_code=202,
             responses={201: {"model": Accepted, "description": "with ?wait=true: stored and visible"}})
async def upload(file: Annotated[UploadFile, File()], request: Request, response: Response, pool: Pool,
                 settings: SettingsDep, producer: Producer, principal: CurrentPrincipal,
                 wait: bool = False) -> Accepted:
    content_type = (file.content_type or "").split(";")[0].strip().lower()
    if content_type not in settings.upload_types:
        raise Problem(415, f"Files of type {content_type or 'unknown'!r} are not accepted; allowed: "
                           f"{', '.join(sorted(settings.upload_types))}.")
    try:
        sha, size = await asyncio.to_thread(store, settings.upload_dir, file.file, settings.max_upload_bytes,
                                            content_type)
    except TooLarge as e:
        raise Problem(413, f"Files may be at most {settings.max_upload_bytes} bytes.") from e
    except WrongContent as e:
        raise Problem(415, f"The content is not {content_type}.") from e
    event = uploaded(sha, size, content_type, file.filename or "", actor=principal.actor,
                     correlation_id=request.state.request_id)
    accepted = await emit(request, response, producer, [event], location=f"/api/files/{sha}")
    if wait:
        await wait_applied(pool, "files", (FILES,), decode_token(accepted.consistency_token or ""),
                           settings.consistency_timeout_s)
        response.status_code = 201
    return accepted


@router.get("/{sha256}", response_class=FileResponse, dependencies=[Depends(consistent_with("files", (FILES,)))],
            responses={200: {"description": "the file, with the content type it was uploaded as",
                             "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}})
async def download(sha256: SHA, conn: DbConn, settings: SettingsDep, principal: CurrentPrincipal) -> Response:
    """The file, for those who read every reading; a worker gets only files they uploaded themselves (any other
    file, even one a reading of theirs names, does not exist for them)."""
    if principal.kind == "user" and principal.role not in SEES_ALL_READINGS:
        owner = principal.actor
        row = await (await conn.execute(OWN_FILE, (sha256, sha256, owner))).fetchone()
    else:
        row = await (await conn.execute(ANY_FILE, (sha256,))).fetchone()
    path = path_for(settings.upload_dir, sha256)
    if row is None or not path.is_file():
        raise Problem(404, f"No file {sha256}.")
    return FileResponse(path, media_type=row[0], filename=f"{sha256}",
                        headers={"Cache-Control": "private, immutable"})  # nosniff: api.middleware, on all
