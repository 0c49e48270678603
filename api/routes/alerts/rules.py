"""Alert rules (admin): stored as events (AlertRuleCreated / Updated / Deleted) on alerts.rules, which every processor
worker reads. Versions as ETags: PUT needs If-Match (428 without, 412 when stale), DELETE takes it when given."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field

from api.commands import Accepted, IfMatch, ReadBack, RequiredIfMatch, Versioned, check_version, if_match_version, saved
from api.deps import DbConn, Pool, Producer, SettingsDep
from api.fields import LabelsIn
from api.identity.principal import CurrentPrincipal
from api.problems import Problem
from api.routes.alerts.reads import TOPICS, Consistent
from api.text import Text
from producers.alerts import commands
from schemas.alerts.rules import AlertRule, FlapPolicy, RuleParams, Severity

router = APIRouter(prefix="/api/alerts/rules", tags=["alerts"])
RULE_ID = r"^[a-z0-9][a-z0-9._-]{0,99}$"
RuleId = Annotated[str, Path(pattern=RULE_ID)]
COLUMNS = ("SELECT rule_id, version, definition, deleted, created_at, created_by, updated_at, updated_by,"
          " last_event_id FROM alert_rules")
SAVED: dict[int | str, dict[str, Any]] = {201: {"description": "with ?wait=true: the rule as stored"}}


class RuleIn(BaseModel):
    """A rule's definition. Kinds (params.kind): metric_threshold, device_unreachable, camera_down, camera_image,
    ingress_over_limit, cylinder, generic."""

    model_config = ConfigDict(extra="forbid")
    name: Text = Field(min_length=1, max_length=200)
    severity: Severity
    labels: LabelsIn = Field(default_factory=dict, max_length=50)
    params: RuleParams
    flapping: FlapPolicy | None = Field(default_factory=FlapPolicy)


class NewRuleIn(RuleIn):
    rule_id: str | None = Field(default=None, pattern=RULE_ID, description="lower-case slug; a new one by default")


class RuleOut(RuleIn):
    model_config = ConfigDict(extra="ignore")
    rule_id: str
    version: int
    created_at: datetime
    created_by: str | None
    updated_at: datetime
    updated_by: str | None


def to_out(row: dict[str, Any]) -> RuleOut:
    return RuleOut.model_validate({**row["definition"], **{k: v for k, v in row.items() if k != "definition"}})


RULES = Versioned("alert rule", COLUMNS + " WHERE rule_id = %s", gone="deleted")
READ_BACK = ReadBack("alerts", TOPICS, RULES.load, to_out, gone="deleted")


@router.get("", response_model=list[RuleOut], dependencies=[Consistent])
async def list_rules(conn: DbConn) -> list[RuleOut]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(COLUMNS + " WHERE NOT deleted ORDER BY rule_id")
        return [to_out(r) for r in await cur.fetchall()]


@router.post("", response_model=Accepted | RuleOut, status_code=202, responses=SAVED)
async def create_rule(body: NewRuleIn, request: Request, response: Response, pool: Pool, producer: Producer,
                      settings: SettingsDep, principal: CurrentPrincipal, wait: bool = False) -> Accepted | RuleOut:
    rule_id = body.rule_id or f"rule-{uuid.uuid4().hex[:12]}"
    if await RULES.load(pool, rule_id) is not None:
        raise Problem(409, f"Alert rule {rule_id} exists (or existed); choose another id or PUT to change it.")
    rule = AlertRule(rule_id=rule_id, version=1, **body.model_dump(exclude={"rule_id"}))
    event = commands.rule_event(rule, actor=principal.actor, correlation_id=request.state.request_id)
    return await saved(request, response, pool, settings, producer, event, READ_BACK, wait=wait,
                         created=True, location=f"/api/alerts/rules/{rule_id}")


@router.get("/{rule_id}", response_model=RuleOut, dependencies=[Consistent])
async def get_rule(rule_id: RuleId, pool: Pool, response: Response) -> RuleOut:
    row = await RULES.current(pool, rule_id)
    response.headers["ETag"] = f'"{row["version"]}"'
    return to_out(row)


@router.put("/{rule_id}", response_model=Accepted | RuleOut, status_code=202,
            responses={200: {"description": "with ?wait=true: the rule as stored"}})
async def update_rule(rule_id: RuleId, body: RuleIn, request: Request, response: Response, pool: Pool,
                      producer: Producer, settings: SettingsDep, principal: CurrentPrincipal,
                      if_match: RequiredIfMatch, wait: bool = False) -> Accepted | RuleOut:
    seen = if_match_version(if_match, required=True)
    row = await RULES.current(pool, rule_id)
    check_version(row["version"], seen, "rule")
    rule = AlertRule(rule_id=rule_id, version=row["version"] + 1, **body.model_dump())
    event = commands.rule_event(rule, actor=principal.actor, correlation_id=request.state.request_id)
    return await saved(request, response, pool, settings, producer, event, READ_BACK, wait=wait,
                         created=False, location=f"/api/alerts/rules/{rule_id}")


@router.delete("/{rule_id}", response_model=Accepted, status_code=202,
               responses={200: {"description": "with ?wait=true: deleted"}})
async def delete_rule(rule_id: RuleId, request: Request, response: Response, pool: Pool, producer: Producer,
                      settings: SettingsDep, principal: CurrentPrincipal,
                      if_match: IfMatch = None, wait: bool = False) -> Accepted | RuleOut:
    """Delete the rule; its firing alerts resolve (reason rule_deleted)."""
    seen = if_match_version(if_match, required=False)
    row = await RULES.current(pool, rule_id)
    check_version(row["version"], seen, "rule")
    event = commands.delete_rule(rule_id, row["version"], actor=principal.actor,
                                 correlation_id=request.state.request_id)
    return await saved(request, response, pool, settings, producer, event, READ_BACK, wait=wait,
                         created=False, location=f"/api/alerts/rules/{rule_id}")
