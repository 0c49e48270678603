"""RF-ingress readings taken by technicians (see shared DOMAIN.md: levels in dBmV, frequencies in MHz)."""

from __future__ import annotations

import re
import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StrictBool, ValidationInfo, field_validator

from schemas.envelope import NO_NUL, JsonFloat, Payload

SPLIT_UPPER_MHZ = {"sub": 42.0, "mid": 85.0, "high": 204.0}
SHA256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


class SplitPlan(StrEnum):
    sub = "sub"
    mid = "mid"
    high = "high"


class TestPoint(StrEnum):
    __test__ = False  # not a pytest class
    ground_block = "ground_block"
    tap = "tap"
    node = "node"
    headend = "headend"


class InstallPhase(StrEnum):
    before = "before"
    after = "after"


class IngressReading(Payload):
    """The fields a technician records for one ingress measurement."""

    customer_name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    address: str = Field(min_length=1, max_length=400, pattern=NO_NUL)
    node_id: str = Field(pattern=NODE_ID.pattern)
    level_dbmv: JsonFloat = Field(ge=-100, le=100, description="ingress level in dBmV")
    split_plan: SplitPlan
    freq_start_mhz: JsonFloat = Field(ge=5, le=204)
    freq_end_mhz: JsonFloat = Field(ge=5, le=204)
    test_point: TestPoint
    home_connected: StrictBool
    install_phase: InstallPhase
    technician: str = Field(min_length=1, max_length=100, pattern=NO_NUL)
    notes: str = Field(default="", max_length=4000, pattern=NO_NUL)
    attachments: tuple[SHA256, ...] = Field(default=(), max_length=20)

    @field_validator("freq_end_mhz")
    @classmethod
    def _band_fits(cls, end: float, info: ValidationInfo) -> float:
        start, plan = info.data.get("freq_start_mhz"), info.data.get("split_plan")
        if start is not None and start >= end:
            raise ValueError("freq_end_mhz must be above freq_start_mhz")
        if plan is not None and end > SPLIT_UPPER_MHZ[plan]:
            raise ValueError(f"a {plan}-split upstream ends at {SPLIT_UPPER_MHZ[plan]:g} MHz")
        return end


class IngressReadingSubmitted(Payload):
    """A technician submitted a new ingress reading (version 1 of the reading)."""

    reading_id: uuid.UUID
    version: int = Field(default=1, ge=1, le=1)
    reading: IngressReading


class IngressReadingCorrected(Payload):
    """A reading was replaced by a corrected one; `version` is the reading's new version."""

    reading_id: uuid.UUID
    version: int = Field(ge=2)
    reading: IngressReading


class IngressReadingRetracted(Payload):
    """A reading was withdrawn: gone from lists, kept in history."""

    reading_id: uuid.UUID
    version: int = Field(ge=2)
    reason: str = Field(default="", max_length=1000)


class IngressLimitExceeded(Payload):
    """Derived: a reading's level is above the limit line for its band (and node)."""

    reading_id: uuid.UUID
    version: int = Field(ge=1)
    node_id: str
    level_dbmv: float
    limit_dbmv: float
    exceeded_by_db: float
    limit_rule: str
