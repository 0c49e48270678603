"""Request and response models of the analytics and ML routes (the formats in the OpenAPI document)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from api.fields import in_range
from schemas.analytics.events import MAX_BATCH

# RFC 3339's date-time: pydantic alone would also take numbers and digit strings as Unix times (seconds or
# milliseconds, guessed by size), which a client sending the wrong field must hear about, not have guessed
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def rfc3339(value: Any) -> Any:
    if isinstance(value, str) and not RFC3339.fullmatch(value):
        raise ValueError("an RFC 3339 date-time with a time zone, e.g. 2026-01-01T00:00:00Z")
    if not isinstance(value, str | datetime):
        raise ValueError("an RFC 3339 date-time string, e.g. 2026-01-01T00:00:00Z")
    return value


class PointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    t: Annotated[AwareDatetime, BeforeValidator(rfc3339), AfterValidator(in_range)] = Field(
        description="RFC 3339 with a time zone; the point's event time (any age from 1900 to 2199)")
    value: float = Field(allow_inf_nan=False)


class PointsIn(BaseModel):
    """A batch of one series' points, in any order: they are sorted by `t`, and of two points at the same `t` the
    first in the batch stands (a point at a `t` the series already has is dropped: the first value received stands)."""

    model_config = ConfigDict(extra="forbid")
    points: list[PointIn] = Field(min_length=1, max_length=MAX_BATCH)


class ScoredOut(BaseModel):
    t: datetime
    value: float
    score: float | None = Field(description="0..1; null when the point came out of order (not scored)")
    anomaly: bool
    expected: float | None
    lower: float | None
    upper: float | None


class ScoresPage(BaseModel):
    series: str
    items: list[ScoredOut]
    next_cursor: str | None


class PredictIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    series: str = Field(min_length=1, max_length=200)
    horizon: int = Field(ge=1, le=2000, description="steps ahead, at the series' own spacing (or hours)")
    step: Literal["raw", "1h"] = Field(default="raw", description="raw points (last 48 h) or hourly rollups")


class PredictedPoint(BaseModel):
    t: datetime
    value: float
    lower: float
    upper: float


class PredictOut(BaseModel):
    series: str
    step_s: float
    history: int = Field(description="points the forecast was fitted on")
    points: list[PredictedPoint]


class ModelOut(BaseModel):
    series: str
    detector: str
    parameters: dict[str, Any]
    points_seen: int
    warm_up_done: bool
    first_t: datetime
    last_t: datetime
    last_update: datetime
    late: int
    duplicates: int


class ModelsPage(BaseModel):
    items: list[ModelOut]
    next_cursor: str | None


class SigningOut(BaseModel):
    key_id: str
    signing_secret: str = Field(description="shown once: sign each request with it (X-Opsledger-Signature)")
