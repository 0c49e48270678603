"""Response models of the ingress routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel


class LimitVerdict(BaseModel):
    limit_dbmv: float
    exceeded_by_db: float
    limit_rule: str


class IngressReadingOut(BaseModel):
    id: uuid.UUID
    version: int
    customer_name: str
    address: str
    node_id: str
    level_dbmv: float
    freq_start_mhz: float
    freq_end_mhz: float
    split_plan: str
    test_point: str
    home_connected: bool
    install_phase: str
    technician: str
    notes: str
    attachments: list[str]
    submitted_at: datetime
    submitted_by: str | None
    updated_at: datetime
    limit_exceeded: LimitVerdict | None


class IngressPage(BaseModel):
    items: list[IngressReadingOut]
    next_cursor: str | None


class HistoryEntry(BaseModel):
    event_id: uuid.UUID
    version: int
    type: str
    occurred_at: datetime
    actor: str | None
    applied: bool
    data: dict[str, Any]
