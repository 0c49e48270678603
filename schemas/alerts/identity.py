"""The identities of alerts, shared by the processor that decides them and the API that names them: a fingerprint
per (rule, subject) — and, for a manual alert, per (subject, labels) —, the id of a fingerprint's n-th alert, and the
event id of a lifecycle event. All computed, so a redelivered input yields the same ids."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping

from schemas.alerts.lifecycle import AlertEvent
from schemas.envelope import stable_event_id

ALERT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:opsledger:alerts")


def fingerprint(rule_id: str | None, subject: str, labels: Mapping[str, str] | None = None) -> str:
    """32 hex characters for (rule, subject); a manual alert (no rule) has its own space and is identified by its
    subject and its whole label set (DOMAIN.md: two system-wide incidents with different labels are two alerts), so
    pass its labels too. A rule's alert takes its labels from the rule and the observation: (rule, subject) names it.
    Unambiguous whatever the names contain: the rule id's length goes first, and labels follow a NUL, which no
    subject holds (event text never contains NUL). No labels gives the fingerprint alerts had before labels counted."""
    rule = rule_id or ""
    identity = f"{len(rule)}:{rule}:{subject}"
    if labels:
        identity += "\x00" + json.dumps(sorted(labels.items()), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


def alert_id(fingerprint_: str, raise_number: int) -> uuid.UUID:
    """The id of the fingerprint's n-th alert: a redelivered observation that raises again yields the same id."""
    return uuid.uuid5(ALERT_NAMESPACE, f"{fingerprint_}#{raise_number}")


def lifecycle_event_id(event: AlertEvent) -> uuid.UUID:
    """An envelope event id for a lifecycle event: the same event decided twice gets the same id."""
    return stable_event_id(event.at, f"{type(event).__name__}:{event.fingerprint}:{event.alert_id}")
