"""IP cameras: the registry as events (CameraRegistered / Updated / Removed on devices.registry), the login and any
secret query values encrypted in device_secrets, stream info from the last probe, a probe now."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from psycopg.rows import dict_row
from pydantic import BaseModel

from api.commands import (
    Accepted,
    IfMatch,
    ReadBack,
    RequiredIfMatch,
    Versioned,
    check_version,
    emit,
    if_match_version,
    saved,
)
from api.deps import DbConn, Pool, Producer, SettingsDep
from api.identity.principal import CurrentPrincipal
from api.problems import Problem
from api.routes.devices.deps import TOPICS, Box, Consistent
from api.routes.devices.models import CameraIn, CameraOut, StreamOut, camera_out, split_camera_url
from api.routes.images.images import answer_upload
from api.routes.images.models import ImageAccepted, ImageOut
from infra import secrets as secret_store
from infra.secrets import SecretsUnavailable
from producers.devices import commands
from producers.devices.outbound import Outbound
from producers.devices.rtsp.probe import DEFAULT_PORTS, probe
from producers.images.snapshots import SnapshotSource, take_snapshot
from schemas.devices.cameras import CameraSpec
from schemas.envelope import utc_now
from schemas.images.events import ImageUploaded

router = APIRouter(prefix="/api/cameras", tags=["cameras"])
COLUMNS = ("SELECT camera_id, version, name, url, location, probe_interval_s, snapshot_interval_s, credentials_version,"
           " removed,"
           " registered_at, updated_at, last_event_id, status, status_since, checked_at, reachable, status_code,"
           " latency_ms, codec, width, height, error FROM cameras")
SAVED: dict[int | str, dict[str, Any]] = {201: {"description": "with ?wait=true: the camera as stored"}}


class ProbeOut(BaseModel):
    camera_id: uuid.UUID
    checked_at: datetime
    url: str
    reachable: bool
    status_code: int | None
    latency_ms: float | None
    codec: str | None
    width: int | None
    height: int | None
    error: str | None
    consistency_token: str


CAMERAS = Versioned("camera", COLUMNS + " WHERE camera_id = %s", gone="removed")
READ_BACK = ReadBack("devices", TOPICS, CAMERAS.load, camera_out, gone="removed")


def secrets_of(body: CameraIn) -> tuple[str, dict[str, str | None] | None]:
    """(URL to register, secrets to keep or None when there are none)."""
    public_url, secret_url = split_camera_url(body.url)
    secrets: dict[str, str | None] = {}
    if body.username is not None:
        secrets["username"] = body.username
    if body.password is not None:
        secrets["password"] = body.password.get_secret_value()
    if secret_url is not None:
        secrets["url"] = secret_url
    return public_url, secrets or None


def endpoint(url: str) -> tuple[str, str | None, int]:
    """Where a camera URL connects: (scheme, host, port), the default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower() or None, parts.port or DEFAULT_PORTS.get(scheme, 0)


def spec_of(body: CameraIn, url: str, credentials_version: int | None) -> CameraSpec:
    try:
        return CameraSpec(name=body.name, url=url, location=body.location, probe_interval_s=body.probe_interval_s,
                          snapshot_interval_s=body.snapshot_interval_s, credentials_version=credentials_version)
    except ValueError as e:
        raise Problem(422, f"The camera is not valid: {e}") from e


@router.get("/", response_model=list[CameraOut], dependencies=[Consistent])
async def list_cameras(conn: DbConn) -> list[CameraOut]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(COLUMNS + " WHERE NOT removed ORDER BY name, camera_id")
        return [camera_out(r) for r in await cur.fetchall()]


@router.post("/", response_model=Accepted | CameraOut, status_code=202, responses=SAVED)
async def register_camera(body: CameraIn, request: Request, response: Response, pool: Pool, producer: Producer,
                          settings: SettingsDep, principal: CurrentPrincipal, box: Box,
                          wait: bool = False) -> Accepted | CameraOut:
    camera_id = str(uuid.uuid4())
    url, secrets = secrets_of(body)
    spec = spec_of(body, url, 1 if secrets else None)
    if secrets:
        async with pool.connection() as conn:
            await secret_store.put(conn, box, camera_id, 1, secrets)
    event = commands.save_camera(camera_id, 1, spec, actor=principal.actor, correlation_id=request.state.request_id)
    return await saved(request, response, pool, settings, producer, event, READ_BACK, wait=wait,
                         created=True, location=f"/api/cameras/{camera_id}")


@router.get("/{camera_id}", response_model=CameraOut, dependencies=[Consistent])
async def get_camera(camera_id: uuid.UUID, pool: Pool, response: Response) -> CameraOut:
    row = await CAMERAS.current(pool, camera_id)
    response.headers["ETag"] = f'"{row["version"]}"'
    return camera_out(row)


@router.put("/{camera_id}", response_model=Accepted | CameraOut, status_code=202,
            responses={200: {"description": "with ?wait=true: the camera as stored"}})
async def update_camera(camera_id: uuid.UUID, body: CameraIn, request: Request, response: Response, pool: Pool,
                        producer: Producer, settings: SettingsDep, principal: CurrentPrincipal, box: Box,
                        if_match: RequiredIfMatch, wait: bool = False) -> Accepted | CameraOut:
    """Replace a camera's registration; with no username and password the stored login (if any) is kept."""
    seen = if_match_version(if_match, required=True)
    row = await CAMERAS.current(pool, camera_id)
    check_version(row["version"], seen, "camera")
    version = row["version"] + 1
    url, secrets = secrets_of(body)
    credentials_version = row["credentials_version"]
    if credentials_version is not None and not secrets and endpoint(url) != endpoint(row["url"]):
        # the stored login goes only where it went before: else an operator could aim it at a host of their own
        raise Problem(422, "Send the camera's username and password again when its host or port changes.")
    if secrets:
        credentials_version = version
        async with pool.connection() as conn:
            await secret_store.put(conn, box, str(camera_id), version, secrets)
    event = commands.save_camera(str(camera_id), version, spec_of(body, url, credentials_version),
                                 actor=principal.actor, correlation_id=request.state.request_id)
    return await saved(request, response, pool, settings, producer, event, READ_BACK, wait=wait,
                         created=False, location=f"/api/cameras/{camera_id}")


@router.delete("/{camera_id}", response_model=Accepted, status_code=202,
               responses={200: {"description": "with ?wait=true: removed"}})
async def remove_camera(camera_id: uuid.UUID, request: Request, response: Response, pool: Pool, producer: Producer,
                        settings: SettingsDep, principal: CurrentPrincipal,
                        if_match: IfMatch = None, wait: bool = False) -> Accepted | CameraOut:
    seen = if_match_version(if_match, required=False)
    row = await CAMERAS.current(pool, camera_id)
    check_version(row["version"], seen, "camera")
    event = commands.remove_camera(str(camera_id), row["version"], actor=principal.actor,
                                   correlation_id=request.state.request_id)
    answer = await saved(request, response, pool, settings, producer, event, READ_BACK, wait=wait,
                         created=False, location=f"/api/cameras/{camera_id}")
    async with pool.connection() as conn:
        await secret_store.forget(conn, str(camera_id))
    return answer


@router.get("/{camera_id}/stream", response_model=StreamOut, dependencies=[Consistent])
async def stream(camera_id: uuid.UUID, pool: Pool) -> StreamOut:
    """The stream as the last probe saw it: URL without credentials, codec, resolution, status."""
    row = await CAMERAS.current(pool, camera_id)
    return StreamOut(**{k: v for k, v in row.items() if k in StreamOut.model_fields})


@router.post("/{camera_id}/snapshot", response_model=ImageAccepted | ImageOut, status_code=202,
             responses={201: {"model": ImageOut, "description": "with ?wait=true: the frame, analysed"},
                        502: {"description": "the camera gave no frame (recorded as CameraSnapshotFailed)"}})
async def snapshot(camera_id: uuid.UUID, request: Request, response: Response, pool: Pool, producer: Producer,
                   settings: SettingsDep, principal: CurrentPrincipal, box: Box, conn: DbConn,
                   wait: bool = False) -> ImageAccepted | ImageOut:
    """Grab one frame from the stream now (ffmpeg) and feed it through the image pipeline (subject: this camera)."""
    row = await CAMERAS.current(pool, camera_id)
    secrets = await stored_login(conn, box, row)
    source = SnapshotSource(str(camera_id), secrets.get("url") or row["url"], row["url"], secrets.get("username"),
                            secrets.get("password"))
    event = await take_snapshot(source, root=settings.upload_dir, timeout_s=settings.snapshot_timeout_s,
                                outbound=Outbound.of(settings.outbound_allow_networks), actor=principal.actor,
                                correlation_id=request.state.request_id)
    if not isinstance(event.data, ImageUploaded):
        await emit(request, response, producer, [event])
        raise Problem(502, f"The camera gave no frame: {getattr(event.data, 'error', '')}", title="Bad Gateway")
    return await answer_upload(request, response, pool, settings, producer, principal, event, wait=wait)


async def stored_login(conn: DbConn, box: Box, row: dict[str, Any]) -> dict[str, str | None]:
    if row["credentials_version"] is None:
        return {}
    try:
        return await secret_store.get(conn, box, row["camera_id"], row["credentials_version"])
    except SecretsUnavailable as e:
        raise Problem(409, f"The stored camera login cannot be read ({e}); send it again.") from e


@router.post("/{camera_id}/test", response_model=ProbeOut)
async def test_camera(camera_id: uuid.UUID, request: Request, response: Response, pool: Pool, producer: Producer,
                      settings: SettingsDep, principal: CurrentPrincipal, box: Box, conn: DbConn) -> ProbeOut:
    """Probe the stream now (RTSP OPTIONS + DESCRIBE) and record the result as CameraStreamChecked."""
    row = await CAMERAS.current(pool, camera_id)
    secrets = await stored_login(conn, box, row)
    checked_at = utc_now()
    try:
        result = await probe(secrets.get("url") or row["url"], username=secrets.get("username"),
                             password=secrets.get("password"), timeout_s=settings.camera_probe_timeout_s,
                             outbound=Outbound.of(settings.outbound_allow_networks))
    except ValueError as e:  # a URL the probe cannot use (registered before a stricter check): say so
        raise Problem(409, f"The camera URL cannot be probed: {e}") from e
    event = commands.stream_checked(str(camera_id), row["url"], checked_at, result, actor=principal.actor,
                                    correlation_id=request.state.request_id, source="api.cameras.test")
    token = (await emit(request, response, producer, [event])).consistency_token or ""
    response.status_code = 200  # the probe happened: its result is in the log
    return ProbeOut(camera_id=camera_id, checked_at=checked_at, url=row["url"], reachable=result.reachable,
                    status_code=result.status_code, latency_ms=result.latency_ms, codec=result.codec,
                    width=result.width, height=result.height, error=result.error, consistency_token=token)
