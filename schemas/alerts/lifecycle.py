"""The lifecycle of one alert (shared DOMAIN.md "Alert lifecycle"): decided by the processor on alerts.events, and
the requests about alerts on alerts.commands.

Raised -> (Acknowledged{by, note, until} -> Unacknowledged when the ack expires while still firing) -> Resolved;
Flapping/Stable mark a fingerprint (rule + subject) whose notifications are held. A rule-less AlertRaised is a
manual or system-wide alert.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from schemas.alerts.rules import NAME, Labels, ResolveReason, Severity
from schemas.envelope import Payload


class AlertEvent(Payload):
    """What every lifecycle event carries. `rule_id` is None for a manual or system-wide alert."""

    alert_id: uuid.UUID | None
    rule_id: str | None
    fingerprint: str = Field(pattern=r"^[0-9a-f]{32}$")
    subject: NAME
    at: datetime


class AlertRaised(AlertEvent):
    """An alert began firing. `flapping` true: its notifications are held."""

    alert_id: uuid.UUID
    severity: Severity
    summary: str = Field(max_length=1000)
    labels: Labels
    value: float | None = None
    flapping: bool = False
    silenced_by: uuid.UUID | None = Field(default=None, description="a mute silence covering it when raised")


class AlertAcknowledged(AlertEvent):
    """Someone has seen the alert; it is hidden from the active view until `until` (or until it resolves)."""

    alert_id: uuid.UUID
    by: NAME
    note: str = Field(default="", max_length=2000)
    until: datetime


class AlertUnacknowledged(AlertEvent):
    """The acknowledgement expired while the alert was still firing: it is shown (and notified) again."""

    alert_id: uuid.UUID
    acknowledged_by: str


class AlertResolved(AlertEvent):
    """The alert stopped firing; `reason` is cleared, auto_resolved, rule_deleted or manual."""

    alert_id: uuid.UUID
    reason: ResolveReason = "cleared"
    value: float | None = None
    flapping: bool = False


class AlertFlapping(AlertEvent):
    """Too many raise/resolve changes within the window: notifications for the fingerprint are held."""

    changes: int = Field(ge=1)
    window_s: int = Field(ge=1)


class AlertStable(AlertEvent):
    """Quiet for the stable window after flapping; `firing` is the state notifications resume from."""

    firing: bool


class AlertSilenced(AlertEvent):
    """A mute silence now covers the firing alert: it stays visible, marked silenced, and is not notified."""

    alert_id: uuid.UUID
    silence_id: uuid.UUID
    until: datetime


class AlertUnsilenced(AlertEvent):
    """No mute silence covers the firing alert any more (the silence ended, was deleted, or its window closed)."""

    alert_id: uuid.UUID
    silence_id: uuid.UUID


class AlertSuppressed(AlertEvent):
    """Root cause: the alert's device is reachable only through a device that is down; it is a symptom, grouped under
    that device's alert (`root_alert_id`) and not notified on its own."""

    alert_id: uuid.UUID
    root_alert_id: uuid.UUID
    root_subject: NAME


class AlertUnsuppressed(AlertEvent):
    """The alert is no longer a symptom (its root recovered or resolved, or the topology changed): it stands alone."""

    alert_id: uuid.UUID
    root_alert_id: uuid.UUID


class AlertCommand(Payload):
    """What every request about an alert carries; the processor decides it against the alert's state."""

    fingerprint: str = Field(pattern=r"^[0-9a-f]{32}$")
    at: datetime
    by: NAME


class AlertAcknowledgeRequested(AlertCommand):
    """Someone asked to acknowledge `alert_id`; refused (AlertCommandRefused) when it is no longer firing."""

    alert_id: uuid.UUID
    note: str = Field(default="", max_length=2000)
    until: datetime


class AlertResolveRequested(AlertCommand):
    """Someone asked to resolve `alert_id` by hand (manual alerts have no rule to clear them)."""

    alert_id: uuid.UUID


class AlertRaiseRequested(AlertCommand):
    """A manual or system-wide alert (no rule), identified by its subject and labels (its fingerprint); refused while
    one with the same subject and labels is firing."""

    subject: NAME
    severity: Severity
    summary: str = Field(min_length=1, max_length=1000)
    labels: Labels = Field(default_factory=dict)


class AlertCommandRefused(Payload):
    """The processor refused a request (e.g. acknowledging an alert that has resolved); `command_id` is its event."""

    command_id: uuid.UUID
    command_type: NAME
    fingerprint: str = Field(pattern=r"^[0-9a-f]{32}$")
    alert_id: uuid.UUID | None = None
    reason: str = Field(max_length=500)
    at: datetime


