"""`opsledger alerts tail`: alert lifecycle events as they happen, a line each, for an on-call terminal."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

import orjson

from infra.entry.tail import print_line, records
from schemas.catalog import REGISTRY
from schemas.registry import EventDecodeError
from schemas.topics import ALERT_EVENTS

WORDS = {"AlertRaised": "RAISED", "AlertAcknowledged": "ACKED", "AlertUnacknowledged": "ACK EXPIRED",
         "AlertResolved": "RESOLVED", "AlertFlapping": "FLAPPING", "AlertStable": "STABLE", "AlertSilenced": "SILENCED",
         "AlertUnsilenced": "UNSILENCED", "AlertCommandRefused": "REFUSED"}


def line_of(event_type: str, data: dict[str, Any]) -> str:
    """One human line: time, what happened, severity, subject and the details that matter for that event."""
    parts = [str(data.get("at", "")), f"{WORDS.get(event_type, event_type):<11}"]
    if event_type == "AlertRaised":
        parts += [f"[{data['severity']}]", data["subject"], data["summary"]]
        if data.get("silenced_by"):
            parts.append("(silenced)")
    elif event_type == "AlertAcknowledged":
        parts += [data["subject"], f"by {data['by']} until {data['until']}", data.get("note") or ""]
    elif event_type == "AlertResolved":
        parts += [data["subject"], f"({data['reason']})"]
    elif event_type == "AlertCommandRefused":
        parts += [data["command_type"], data["reason"]]
    else:
        parts.append(data.get("subject", ""))
    if data.get("alert_id"):
        parts.append(f"alert {data['alert_id']}")
    return "  ".join(p for p in parts if p)


async def tail_alerts(bootstrap: str, *, from_beginning: bool, as_json: bool, limit: int = 0) -> None:
    printed = 0
    async with aclosing(records(bootstrap, ALERT_EVENTS, from_beginning=from_beginning)) as stream:
        async for message in stream:
            try:
                event = REGISTRY.decode(message.value)
            except EventDecodeError:
                continue  # not an alert event: the projection dead-letters it
            data = event.data.model_dump(mode="json")
            print_line(orjson.dumps({"type": event.type, "event_id": str(event.event_id), **data}).decode()
                       if as_json else line_of(event.type, data))
            printed += 1
            if limit and printed >= limit:
                return
