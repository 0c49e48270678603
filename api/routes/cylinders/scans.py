"""Scanner input: a batch of scans from a handheld, and the seed's one-action wrappers. Commands only emit
ScanRecorded events; the processor decides what they mean. ?wait=true returns each scan's outcome."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.commands import emit
from api.consistency import poll
from api.deps import Pool, Producer, SettingsDep
from api.fields import Day, Instant, Int
from api.identity.principal import CurrentPrincipal, Principal
from api.problems import Problem
from api.text import Text
from producers.cylinders.commands import record_scan
from producers.cylinders.qrcodes import is_valid, new_code
from schemas.cylinders.events import NEVER_LAST, ScanAction

router = APIRouter(tags=["cylinders"])
WAITED: dict[int | str, dict[str, object]] = {
    200: {"description": "with ?wait=true: every scan decided, with its outcome (202 with null outcomes for the"
                         " scans not decided within the consistency timeout)"}}
ADMIN_ACTIONS = frozenset({ScanAction.add, ScanAction.trash, ScanAction.reprint})
FAST_CLOCK = timedelta(minutes=10)  # how far ahead of the server a handheld's clock may run
OUTCOMES = ("SELECT DISTINCT ON (scan_id, worker) scan_id, worker, type, envelope->'data'->>'reason'"
            " FROM cylinder_history WHERE worker = %s AND scan_id = ANY(%s) ORDER BY scan_id, worker, version DESC")


def valid_code(code: str) -> str:
    code = code.strip().upper()
    if not is_valid(code):
        raise ValueError("not a cylinder QR code (CYL- and 13 characters with a valid check character)")
    return code


class ScanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_scan_id: Text = Field(min_length=1, max_length=100, description="the handheld's id: repeats are harmless")
    qr_code: str = Field(max_length=40)
    action: ScanAction
    counterparty: Text | None = Field(default=None, max_length=200, description="customer or refill station")
    location: Text | None = Field(default=None, max_length=200)
    scanned_at: Instant
    retest_due: Day | None = None

    @field_validator("qr_code")
    @classmethod
    def _code(cls, code: str) -> str:
        return valid_code(code)

    @field_validator("scanned_at")
    @classmethod
    def _not_ahead(cls, at: datetime) -> datetime:
        # a scan from the future would stay the cylinder's last scan, so it would never be overdue or lost
        if at > datetime.now(UTC) + FAST_CLOCK:
            raise ValueError(f"is in the future (a handheld's clock may run at most {FAST_CLOCK} ahead)")
        return at


class ScanBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scans: list[ScanIn] = Field(min_length=1, max_length=1000)


class CodesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    qr_codes: list[str] = Field(min_length=1, max_length=1000)
    counterparty: Text | None = Field(default=None, max_length=200, description="customer, station or reason")
    location: Text | None = Field(default=None, max_length=200)

    @field_validator("qr_codes")
    @classmethod
    def _codes(cls, codes: list[str]) -> list[str]:
        return [valid_code(c) for c in codes]


class NewCylinders(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: Int = Field(ge=1, le=500)
    retest_due: Day | None = None
    location: Text | None = Field(default=None, max_length=200)


class ScanOutcome(BaseModel):
    client_scan_id: str
    qr_code: str
    outcome: str | None = Field(description="the event the scan led to (e.g. CylinderShipped or ScanRejected)")
    reason: str | None = None


class ScansAccepted(BaseModel):
    accepted: int
    consistency_token: str
    qr_codes: list[str]
    outcomes: list[ScanOutcome] | None = None


async def submit(scans: list[ScanIn], principal: Principal, request: Request, response: Response, pool: Pool,
                 producer: Producer, wait: bool, timeout_s: float) -> ScansAccepted:
    is_admin = principal.kind == "user" and principal.role == "admin"
    if not is_admin and any(s.action in ADMIN_ACTIONS for s in scans):
        raise Problem(403, "Only admins (signed in, not API keys) add, trash or reprint cylinders.")
    await request.app.state.limiter.hit(request.app.state.settings.scan_rate, "scans", principal.actor,
                                        cost=len(scans), what="scans")
    events = [record_scan(client_scan_id=s.client_scan_id, qr_code=s.qr_code, action=s.action,
                          scanned_at=s.scanned_at, worker=principal.name, actor=principal.actor,
                          counterparty=s.counterparty, location=s.location, retest_due=s.retest_due,
                          correlation_id=request.state.request_id) for s in scans]
    token = (await emit(request, response, producer, events)).consistency_token or ""
    request.state.audit_subject = ",".join(sorted({s.qr_code for s in scans}))[:400]
    result = ScansAccepted(accepted=len(events), consistency_token=token, qr_codes=[s.qr_code for s in scans])
    if wait:
        result.outcomes = await outcomes(pool, principal.name, scans, timeout_s)
    decided = wait and all(o.outcome is not None for o in result.outcomes or ())
    response.status_code = 200 if decided else 202  # not decided in time: accepted all the same
    return result


async def outcomes(pool: Pool, worker: str, scans: list[ScanIn], timeout_s: float) -> list[ScanOutcome]:
    """Wait until the processor has decided every scan (each scan's latest derived event); after timeout_s the
    scans not decided yet have outcome null."""
    ids, decided = [s.client_scan_id for s in scans], {}

    async def all_decided(conn: psycopg.AsyncConnection) -> bool:
        rows = await (await conn.execute(OUTCOMES, (worker, ids))).fetchall()
        decided.update({r[0]: (r[2], r[3]) for r in rows if r[2] not in NEVER_LAST})
        return len(decided) >= len(set(ids))

    await poll(pool, all_decided, timeout_s)
    return [ScanOutcome(client_scan_id=s.client_scan_id, qr_code=s.qr_code,
                        outcome=decided.get(s.client_scan_id, (None, None))[0],
                        reason=decided.get(s.client_scan_id, (None, None))[1]) for s in scans]


@router.post("/api/scans", response_model=ScansAccepted, status_code=202, responses=WAITED)
async def scans(body: ScanBatch, principal: CurrentPrincipal, request: Request, response: Response, pool: Pool,
                producer: Producer, settings: SettingsDep, wait: bool = False) -> ScansAccepted:
    """A batch from a handheld. A repeated client_scan_id is harmless. With ?wait=true: each scan's outcome."""
    return await submit(body.scans, principal, request, response, pool, producer, wait, settings.consistency_timeout_s)


def wrapper(action: ScanAction) -> object:
    async def one_action(body: CodesIn, principal: CurrentPrincipal, request: Request, response: Response,
                         pool: Pool, producer: Producer, settings: SettingsDep, wait: bool = False) -> ScansAccepted:
        now = datetime.now(UTC)
        batch = [ScanIn(client_scan_id=str(uuid.uuid4()), qr_code=code, action=action, counterparty=body.counterparty,
                        location=body.location, scanned_at=now) for code in body.qr_codes]
        return await submit(batch, principal, request, response, pool, producer, wait, settings.consistency_timeout_s)

    one_action.__name__ = f"scan_{action.value}"
    one_action.__doc__ = f"Scan one or many cylinders for `{action.value}` (the events of /api/scans)."
    return one_action


for _path, _action in (("ship", ScanAction.ship), ("return", ScanAction.return_),
                       ("refill/send", ScanAction.refill_send), ("refill/receive", ScanAction.refill_receive),
                       ("trash", ScanAction.trash), ("reprint", ScanAction.reprint)):
    router.add_api_route(f"/api/cylinders/{_path}", wrapper(_action), methods=["POST"],  # type: ignore[arg-type]
                         response_model=ScansAccepted, status_code=202, responses=WAITED)


@router.post("/api/cylinders/add", response_model=ScansAccepted, status_code=202, responses=WAITED)
async def add(body: NewCylinders, principal: CurrentPrincipal, request: Request, response: Response, pool: Pool,
              producer: Producer, settings: SettingsDep, wait: bool = False) -> ScansAccepted:
    """New cylinders: each gets a fresh QR code (returned), Available, with its re-test due date."""
    now = datetime.now(UTC)
    batch = [ScanIn(client_scan_id=str(uuid.uuid4()), qr_code=new_code(), action=ScanAction.add,
                    location=body.location, scanned_at=now, retest_due=body.retest_due) for _ in range(body.count)]
    return await submit(batch, principal, request, response, pool, producer, wait, settings.consistency_timeout_s)

