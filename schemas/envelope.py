"""The one envelope every event travels in, plus id and clock helpers."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, ValidationInfo, model_validator
from uuid6 import uuid7

NO_NUL = r"^[^\x00]*$"  # a JSON Schema pattern: PostgreSQL text holds no NUL character


def json_number(value: Any) -> Any:
    # pydantic's lax mode reads "5" and false as numbers; JSON Schema's integer/number do not (2.0 IS an integer)
    if isinstance(value, bool | str | bytes):
        raise ValueError("must be a JSON number, not a string or a boolean")
    return value


JsonInt = Annotated[int, BeforeValidator(json_number)]  # a JSON integer (2 or 2.0), as the document declares it
# A JSON number. pydantic's strict float refuses strings and booleans and takes integers, which is what json_number
# asks, in pydantic-core without a call into Python (tests/unit/platform/test_schema_checks.py proves them equal).
JsonFloat = Annotated[float, Strict()]


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_event_id() -> uuid.UUID:
    return uuid.UUID(int=uuid7().int)  # a plain UUID: uuid6's subclass is not native to orjson


def derived_event_id(cause_id: uuid.UUID, derived_type: str) -> uuid.UUID:
    """A UUIDv7 computed from the cause, so a redelivered input yields the same derived id.

    The 48-bit timestamp is the cause's own (so ids still sort by time); the remaining bits
    come from sha256(cause id + derived type) with the version and variant bits set.
    """
    cause_ms = cause_id.int >> 80
    digest = int.from_bytes(hashlib.sha256(cause_id.bytes + derived_type.encode()).digest()[:10], "big")
    value = (cause_ms << 80) | (0x7 << 76) | ((digest >> 68) & 0xFFF) << 64
    value |= (0b10 << 62) | (digest & ((1 << 62) - 1))
    return uuid.UUID(int=value)


NUL_CHECKED: dict[str, bool] = {"nul_checked": True}


def _refuse_nul(value: Any) -> None:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    if isinstance(value, dict):
        for item in value.values():
            _refuse_nul(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _refuse_nul(item)


def stable_event_id(at: datetime, key: str) -> uuid.UUID:
    """A UUIDv7 for a fact that may be submitted twice (a handheld retrying): same time and key, same id."""
    ms = int(at.timestamp() * 1000) & ((1 << 48) - 1)
    return derived_event_id(uuid.UUID(int=ms << 80), key)


class Payload(BaseModel):
    """Base of every event payload: frozen, no unknown fields, no NUL characters (Postgres text refuses them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # After validation, not before: a before-validator made pydantic-core hand every payload (every nested point of
    # a batch too) to Python as a dict and validate it in Python mode, up to half of a decode (BENCHMARKS.md). Input
    # text either reaches the model as text (checked here) or fails validation, so both refuse the same inputs.
    @model_validator(mode="after")
    def _no_nul(self, info: ValidationInfo) -> Any:
        if info.context is not NUL_CHECKED:  # the registry already checked the raw bytes
            _refuse_nul(self.__dict__)
        return self


class Envelope(BaseModel):
    """Metadata common to every event; `data` holds the typed payload of `type`."""

    model_config = ConfigDict(frozen=True)

    event_id: uuid.UUID = Field(default_factory=new_event_id)
    type: str
    schema_version: int = 1
    occurred_at: datetime = Field(default_factory=utc_now)
    recorded_at: datetime = Field(default_factory=utc_now)
    source: str
    subject: str = Field(min_length=1, max_length=200, description="aggregate key, also the Kafka key")
    actor: str | None = None
    correlation_id: str | None = None
    causation_id: uuid.UUID | None = None
    data: Payload

    def wire_dict(self) -> dict[str, Any]:
        body = self.model_dump(mode="json", exclude={"data"})
        body["data"] = self.data.model_dump(mode="json")
        return body
