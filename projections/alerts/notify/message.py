"""What one notification says: a frozen `Notice` (stored with its delivery, so a resend after a crash says exactly the
same), and its renderings as an email subject and plain-text body and as a Slack-compatible JSON payload."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from projections.alerts.notify.grouping import AlertView, Message


class AlertLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: Literal["firing", "resolved"]
    fingerprint: str
    alert_id: str
    subject: str
    rule_id: str | None
    severity: str
    summary: str
    labels: dict[str, str]
    since: datetime


class Notice(BaseModel):
    model_config = ConfigDict(frozen=True)

    delivery_id: str
    kind: Literal["changes", "repeat"]
    group_key: str
    group_labels: dict[str, str]
    firing: tuple[AlertLine, ...]
    resolved: tuple[AlertLine, ...]

    @property
    def status(self) -> Literal["firing", "resolved"]:
        return "firing" if self.firing else "resolved"


def _line(alert: AlertView, status: Literal["firing", "resolved"]) -> AlertLine:
    return AlertLine(status=status, fingerprint=alert.fingerprint, alert_id=alert.alert_id, subject=alert.subject,
                     rule_id=alert.rule_id, severity=alert.severity, summary=alert.summary,
                     labels=dict(alert.labels), since=alert.since)


def notice(delivery_id: str, kind: Literal["changes", "repeat"], group_key: str, group_labels: dict[str, str],
           message: Message) -> Notice:
    return Notice(delivery_id=delivery_id, kind=kind, group_key=group_key, group_labels=group_labels,
                  firing=tuple(_line(a, "firing") for a in message.firing),
                  resolved=tuple(_line(a, "resolved") for a in message.resolved))


def _group_name(n: Notice) -> str:
    named = " ".join(f"{k}={v}" for k, v in sorted(n.group_labels.items()) if v)
    return named or "all alerts"


def subject_line(n: Notice) -> str:
    """`[FIRING:2, RESOLVED:1] site=berlin device=sw1`, as Alertmanager's default email subject."""
    counts = [f"FIRING:{len(n.firing)}"] if n.firing else []
    counts += [f"RESOLVED:{len(n.resolved)}"] if n.resolved else []
    return f"[{', '.join(counts)}] {_group_name(n)}"


def _describe(line: AlertLine) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in sorted(line.labels.items()))
    head = f"- [{line.severity.upper()}] {line.summary} ({line.subject})"
    return f"{head}\n  since {line.since.isoformat()}; rule {line.rule_id or 'manual'}; {labels or 'no labels'}"


def text_body(n: Notice) -> str:
    parts = [f"Opsledger alerts for {_group_name(n)}" + (" (reminder)" if n.kind == "repeat" else ""), ""]
    if n.firing:
        parts += [f"Firing ({len(n.firing)}):", *(_describe(line) for line in n.firing), ""]
    if n.resolved:
        parts += [f"Resolved ({len(n.resolved)}):", *(_describe(line) for line in n.resolved), ""]
    parts.append(f"Delivery {n.delivery_id}")
    return "\n".join(parts) + "\n"


def webhook_payload(n: Notice) -> dict[str, Any]:
    """Slack's incoming webhooks read `text`; other receivers read the structured fields."""
    return {
        "text": f"{subject_line(n)}\n" + "\n".join(_describe(line) for line in (*n.firing, *n.resolved)),
        "delivery_id": n.delivery_id,
        "kind": n.kind,
        "status": n.status,
        "group_key": n.group_key,
        "group_labels": n.group_labels,
        "alerts": [line.model_dump(mode="json") for line in (*n.firing, *n.resolved)],
    }
