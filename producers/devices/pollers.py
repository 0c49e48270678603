"""`opsledger pollers`: polls the registered devices over SNMP and probes the cameras, emitting what it sees.

Devices, cameras and their secrets come from Postgres (the devices/cameras read models and device_secrets); the
registry is re-read every OPSLEDGER_POLLER_RELOAD_S seconds and the running schedule follows it (a device added,
changed or removed starts, restarts or stops its own loop; the others are not disturbed).

Scale-out: N poller processes (OPSLEDGER_POLLER_COUNT) each take the devices and cameras whose id hashes (CRC-32)
to their OPSLEDGER_POLLER_INDEX mod N. A stable hash needs no coordination and no broker group (so a poller needs only
the database and a producer); the price is that N is configured, not discovered: a dead poller's devices wait until
it is restarted (compose and `opsledger up` restart it), and changing N moves devices between pollers at their next
reload.
"""

from __future__ import annotations

import asyncio
import random
import zlib
from dataclasses import dataclass, field
from typing import Any

import psycopg
import structlog
from psycopg.rows import dict_row
from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

from infra import secrets as secret_store
from infra.producer import EventProducer
from infra.secrets import SecretBox, SecretsUnavailable
from infra.settings import Settings
from producers.devices.commands import poll_events, snmp_credentials, stream_checked
from producers.devices.outbound import Outbound
from producers.devices.rtsp.probe import probe
from producers.devices.snmp.credentials import CredentialsError
from producers.devices.snmp.poll import PollResult
from producers.devices.snmp.scheduler import Device, DeviceState, Policy, Scheduler, jittered
from producers.devices.snmp.session import Target, close_engine
from producers.images.snapshots import SnapshotSource, take_snapshot
from schemas.devices.events import DeviceSpec
from schemas.envelope import utc_now

log = structlog.get_logger(__name__)
LOAD_DEVICES = "SELECT device_id, version, spec FROM devices WHERE NOT removed"
LOAD_CAMERAS = ("SELECT camera_id, version, url, probe_interval_s, snapshot_interval_s, credentials_version"
                " FROM cameras WHERE NOT removed")


def poller_of(subject_id: str, count: int) -> int:
    """Which of `count` pollers owns a device or camera: stable across processes and restarts."""
    return zlib.crc32(subject_id.encode()) % count


@dataclass(frozen=True)
class CameraJob:
    camera_id: str
    url: str  # what is probed: may hold query secrets (kept encrypted); events carry the registered URL
    public_url: str
    interval_s: float
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    snapshot_interval_s: float | None = None  # grab a frame into the image pipeline this often (camera image health)

    def snapshot_source(self) -> SnapshotSource:
        return SnapshotSource(self.camera_id, self.url, self.public_url, self.username, self.password)


@dataclass(frozen=True)
class Assignment:
    devices: dict[str, tuple[int, Device]]
    cameras: dict[str, tuple[int, CameraJob]]


def device_from(device_id: str, spec: DeviceSpec, secrets: dict[str, str | None], settings: Settings) -> Device:
    target = Target(device_id, spec.management_ip, spec.snmp_port, timeout_s=settings.snmp_timeout_s,
                    retries=settings.snmp_retries, outbound=Outbound.of(settings.outbound_allow_networks))
    return Device(target, snmp_credentials(spec, secrets), float(spec.polling_interval_s))


async def load_assignment(conn: psycopg.AsyncConnection, box: SecretBox, settings: Settings) -> Assignment:
    """This poller's share of the registry, with decrypted credentials; a device whose secrets cannot be read is
    skipped with a warning (its id and the reason, never the secret)."""
    index, count = settings.poller_index, settings.poller_count
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(LOAD_DEVICES)
        device_rows = [r for r in await cur.fetchall() if poller_of(r["device_id"], count) == index]
        await cur.execute(LOAD_CAMERAS)
        camera_rows = [r for r in await cur.fetchall() if poller_of(r["camera_id"], count) == index]
    owners = [r["device_id"] for r in device_rows] + [r["camera_id"] for r in camera_rows]
    sealed = await secret_store.get_many(conn, box, owners)
    devices: dict[str, tuple[int, Device]] = {}
    for row in device_rows:
        try:
            spec = DeviceSpec.model_validate(row["spec"])
            token = sealed.get((row["device_id"], spec.credentials_version))
            if token is None:
                raise SecretsUnavailable(f"no secrets stored for credentials version {spec.credentials_version}")
            devices[row["device_id"]] = (row["version"], device_from(row["device_id"], spec, box.open(token),
                                                                     settings))
        except (SecretsUnavailable, CredentialsError, ValueError) as e:
            log.warning("pollers.device_skipped", device_id=row["device_id"], reason=str(e))
    cameras: dict[str, tuple[int, CameraJob]] = {}
    for row in camera_rows:
        secrets: dict[str, str | None] = {}
        if row["credentials_version"] is not None:
            token = sealed.get((row["camera_id"], row["credentials_version"]))
            if token is None:
                log.warning("pollers.camera_skipped", camera_id=row["camera_id"], reason="no stored secrets")
                continue
            try:
                secrets = box.open(token)
            except SecretsUnavailable as e:
                log.warning("pollers.camera_skipped", camera_id=row["camera_id"], reason=str(e))
                continue
        snapshots = row["snapshot_interval_s"]
        job = CameraJob(row["camera_id"], secrets.get("url") or row["url"], row["url"], float(row["probe_interval_s"]),
                        secrets.get("username"), secrets.get("password"),
                        float(snapshots) if snapshots is not None else None)
        cameras[row["camera_id"]] = (row["version"], job)
    return Assignment(devices, cameras)


@dataclass
class Running:
    version: int
    stop: asyncio.Event
    task: asyncio.Task[None]


class Pollers:
    def __init__(self, settings: Settings, producer: EventProducer, box: SecretBox,
                 rng: random.Random | None = None) -> None:
        self.settings, self.producer, self.box = settings, producer, box
        self.rng = rng or random.Random()
        self.identities: dict[str, tuple[str, str, str]] = {}
        self.devices: dict[str, Running] = {}
        self.cameras: dict[str, Running] = {}
        self.scheduler: Scheduler | None = None

    async def emit_poll(self, result: PollResult) -> None:
        identity = result.identity
        seen = (identity.sys_name, identity.sys_descr, identity.sys_object_id) if identity else None
        changed = seen is not None and self.identities.get(result.device_id) != seen
        await self.producer.emit_many(poll_events(result, with_identity=changed))
        if changed and seen is not None:
            self.identities[result.device_id] = seen  # only once the broker has it: a failed emit retries it

    async def camera_loop(self, job: CameraJob, stop: asyncio.Event) -> None:
        snapshots = asyncio.create_task(self.snapshot_loop(job, stop)) if job.snapshot_interval_s else None
        try:
            await self.probe_loop(job, stop)
        finally:
            if snapshots is not None:
                await asyncio.gather(snapshots, return_exceptions=True)

    async def snapshot_loop(self, job: CameraJob, stop: asyncio.Event) -> None:
        """A frame every snapshot_interval_s into the image pipeline (ImageUploaded, or CameraSnapshotFailed)."""
        assert job.snapshot_interval_s is not None
        delay = job.snapshot_interval_s * self.rng.random()
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
                return
            except TimeoutError:
                pass
            try:
                await self.producer.emit(await take_snapshot(
                    job.snapshot_source(), root=self.settings.upload_dir, timeout_s=self.settings.snapshot_timeout_s,
                    outbound=Outbound.of(self.settings.outbound_allow_networks)))
            except Exception as e:  # a failed store or emit: never end this camera's schedule
                log.warning("pollers.camera_snapshot_failed", camera_id=job.camera_id, error=type(e).__name__)
            delay = jittered(job.snapshot_interval_s, 0.1, self.rng.random())

    async def probe_loop(self, job: CameraJob, stop: asyncio.Event) -> None:
        delay = job.interval_s * self.rng.random()
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
                return
            except TimeoutError:
                pass
            checked_at = utc_now()
            try:
                result = await probe(job.url, username=job.username, password=job.password,
                                     timeout_s=self.settings.camera_probe_timeout_s,
                                     outbound=Outbound.of(self.settings.outbound_allow_networks))
                await self.producer.emit(stream_checked(job.camera_id, job.public_url, checked_at, result))
            except Exception as e:  # a URL the probe refuses, a failed emit: never end this camera's schedule
                log.warning("pollers.camera_probe_failed", camera_id=job.camera_id, error=type(e).__name__)
            delay = jittered(job.interval_s, 0.1, self.rng.random())

    def _reconcile(self, running: dict[str, Running], wanted: dict[str, tuple[int, Any]], start: Any) -> None:
        for subject, current in list(running.items()):
            if subject not in wanted or wanted[subject][0] != current.version:
                current.stop.set()  # the loop ends at its next wait; a poll under way finishes first
                del running[subject]
        for subject, (version, item) in wanted.items():
            if subject not in running:
                stop = asyncio.Event()
                running[subject] = Running(version, stop, asyncio.create_task(start(item, stop), name=subject))

    def _start_device(self, device: Device, stop: asyncio.Event) -> Any:
        assert self.scheduler is not None
        self.scheduler.states[device.target.device_id] = DeviceState()  # new address or credentials: start afresh
        return self.scheduler.device_loop(device, stop)

    async def reload(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.settings.database_url, autocommit=True) as conn:
            assignment = await load_assignment(conn, self.box, self.settings)
        before = (len(self.devices), len(self.cameras))
        self._reconcile(self.devices, assignment.devices, self._start_device)
        self._reconcile(self.cameras, assignment.cameras, self.camera_loop)
        if before != (len(self.devices), len(self.cameras)):
            log.info("pollers.assignment", devices=len(self.devices), cameras=len(self.cameras),
                     poller=f"{self.settings.poller_index}/{self.settings.poller_count}")

    async def run(self, stop: asyncio.Event) -> None:
        engine = SnmpEngine()
        policy = Policy(deadline_s=self.settings.poller_deadline_s, max_concurrent=self.settings.poller_max_concurrent)
        self.scheduler = Scheduler(engine, [], self.emit_poll, policy=policy, rng=self.rng)
        try:
            while not stop.is_set():
                try:
                    await self.reload()
                except (psycopg.Error, OSError) as e:  # the database is away: keep polling what we have
                    log.warning("pollers.reload_failed", error=str(e), retry_in_s=self.settings.poller_reload_s)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.settings.poller_reload_s)
                except TimeoutError:
                    pass
        finally:
            everything = [*self.devices.values(), *self.cameras.values()]
            for running in everything:
                running.stop.set()
            await asyncio.gather(*(r.task for r in everything), return_exceptions=True)
            close_engine(engine)


async def run_pollers(settings: Settings, stop: asyncio.Event) -> None:
    box = SecretBox(settings.secrets_keys.get_secret_value() if settings.secrets_keys else None)
    producer = EventProducer(settings.kafka_bootstrap_servers, idempotence=settings.kafka_idempotence,
                             client_id=f"opsledger-pollers-{settings.poller_index}")
    await producer.start()
    try:
        log.info("pollers.started", poller=f"{settings.poller_index}/{settings.poller_count}")
        await Pollers(settings, producer, box).run(stop)
    finally:
        await producer.stop()
    log.info("pollers.stopped")
