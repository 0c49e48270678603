"""Ingress command handlers: turn a validated command into the event to emit (no I/O here)."""

from __future__ import annotations

import uuid

from schemas.catalog import REGISTRY
from schemas.envelope import Envelope, new_event_id
from schemas.ingress.events import (
    IngressReading,
    IngressReadingCorrected,
    IngressReadingRetracted,
    IngressReadingSubmitted,
)

SOURCE = "api.ingress"


def submit_reading(reading: IngressReading, *, actor: str | None, correlation_id: str | None,
                   source: str = SOURCE) -> Envelope:
    reading_id = new_event_id()  # time-ordered, so the reading id sorts like the submission
    return REGISTRY.event(IngressReadingSubmitted(reading_id=reading_id, reading=reading), source=source,
                          subject=str(reading_id), actor=actor, correlation_id=correlation_id)


def correct_reading(reading_id: uuid.UUID, seen_version: int, reading: IngressReading, *, actor: str | None,
                    correlation_id: str | None) -> Envelope:
    data = IngressReadingCorrected(reading_id=reading_id, version=seen_version + 1, reading=reading)
    return REGISTRY.event(data, source=SOURCE, subject=str(reading_id), actor=actor, correlation_id=correlation_id)


def retract_reading(reading_id: uuid.UUID, seen_version: int, reason: str, *, actor: str | None,
                    correlation_id: str | None) -> Envelope:
    data = IngressReadingRetracted(reading_id=reading_id, version=seen_version + 1, reason=reason)
    return REGISTRY.event(data, source=SOURCE, subject=str(reading_id), actor=actor, correlation_id=correlation_id)
