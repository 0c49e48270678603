"""Alert command handlers: rules and silences become definition events, requests about alerts become request
events keyed by fingerprint (the processor decides them). No I/O here."""

from __future__ import annotations

import uuid
from datetime import datetime

from schemas.alerts.lifecycle import AlertAcknowledgeRequested, AlertRaiseRequested, AlertResolveRequested
from schemas.alerts.rules import AlertRule, AlertRuleCreated, AlertRuleDeleted, AlertRuleUpdated
from schemas.alerts.silences import SilenceCreated, SilenceDeleted
from schemas.catalog import REGISTRY
from schemas.envelope import Envelope, Payload, utc_now

SOURCE = "api.alerts"


def _event(data: Payload, subject: str, actor: str | None, correlation_id: str | None) -> Envelope:
    return REGISTRY.event(data, source=SOURCE, subject=subject, actor=actor, correlation_id=correlation_id)


def rule_event(rule: AlertRule, *, actor: str | None, correlation_id: str | None) -> Envelope:
    """AlertRuleCreated for version 1, AlertRuleUpdated for any later version."""
    model = AlertRuleCreated if rule.version == 1 else AlertRuleUpdated
    return _event(model.model_validate(rule.model_dump()), rule.rule_id, actor, correlation_id)


def delete_rule(rule_id: str, seen_version: int, *, actor: str | None, correlation_id: str | None) -> Envelope:
    return _event(AlertRuleDeleted(rule_id=rule_id, version=seen_version + 1), rule_id, actor, correlation_id)


def create_silence(silence: SilenceCreated, *, actor: str | None, correlation_id: str | None) -> Envelope:
    return _event(silence, str(silence.silence_id), actor, correlation_id)


def delete_silence(silence_id: uuid.UUID, by: str, *, actor: str | None, correlation_id: str | None) -> Envelope:
    return _event(SilenceDeleted(silence_id=silence_id, by=by, at=utc_now()), str(silence_id), actor, correlation_id)


def acknowledge(alert_id: uuid.UUID, fingerprint: str, by: str, note: str, until: datetime, *, actor: str | None,
                correlation_id: str | None) -> Envelope:
    data = AlertAcknowledgeRequested(alert_id=alert_id, fingerprint=fingerprint, by=by, note=note, until=until,
                                     at=utc_now())
    return _event(data, fingerprint, actor, correlation_id)


def resolve(alert_id: uuid.UUID, fingerprint: str, by: str, *, actor: str | None,
            correlation_id: str | None) -> Envelope:
    data = AlertResolveRequested(alert_id=alert_id, fingerprint=fingerprint, by=by, at=utc_now())
    return _event(data, fingerprint, actor, correlation_id)


def raise_manual(request: AlertRaiseRequested, *, actor: str | None, correlation_id: str | None) -> Envelope:
    return _event(request, request.fingerprint, actor, correlation_id)
