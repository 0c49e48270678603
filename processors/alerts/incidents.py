"""Agents: root cause (processors/alerts/rootcause.py). `topology-facts` turns alert lifecycle, device status, sysName
and LLDP events into facts for one key, the whole network (LLDP sightings repeat every poll: only changes go on, as
far as this worker has seen); `root-cause` folds them into the network view (a Faust table with that one key) and
says which firing alerts are now symptoms of a down device's alert (AlertSuppressed) or no longer (AlertUnsuppressed).
Event ids come from the alert and its root, so a fact redelivered after a crash announces the same grouping again.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import faust
import structlog

from infra.settings import Settings
from infra.topics import TOPOLOGY_TABLE
from processors.alerts.rootcause import Topology, applied, regroup
from processors.codec import DecodeFailure
from schemas.alerts.lifecycle import AlertRaised, AlertResolved, AlertSuppressed, AlertUnsuppressed
from schemas.catalog import REGISTRY
from schemas.devices.events import DeviceIdentified, DeviceStatusChanged, TopologyLinkObserved
from schemas.envelope import Envelope, derived_event_id

log = structlog.get_logger(__name__)
SOURCE = "processors.alerts.rootcause"
NETWORK = b"network"


FACT_TYPES = frozenset(REGISTRY.of(model).name for model in (AlertRaised, AlertResolved, DeviceStatusChanged,
                                                              DeviceIdentified, TopologyLinkObserved))


def fact_of(envelope: Envelope) -> dict[str, Any] | None:
    data = envelope.data
    if isinstance(data, AlertRaised) and data.labels.get("device"):
        return {"kind": "raised", "alert_id": str(data.alert_id), "device": data.labels["device"],
                "subject": data.subject, "fingerprint": data.fingerprint, "rule_id": data.rule_id}
    if isinstance(data, AlertResolved):
        return {"kind": "resolved", "alert_id": str(data.alert_id)}
    if isinstance(data, DeviceStatusChanged):
        return {"kind": "status", "device": data.device_id, "status": data.current.value}
    if isinstance(data, DeviceIdentified):
        return {"kind": "identified", "device": data.device_id, "sys_name": data.sys_name}
    if isinstance(data, TopologyLinkObserved) and data.remote_sys_name:
        return {"kind": "link", "device": data.device_id, "port": data.local_port, "remote": data.remote_sys_name}
    return None


class RootCause:
    def __init__(self, app: faust.App, settings: Settings, *, facts: Any, events: Any) -> None:
        self.facts, self.events = facts, events
        self.table = app.Table(TOPOLOGY_TABLE, default=None, partitions=settings.topic_partitions)
        self.links_seen: dict[tuple[str, str], str] = {}  # this worker's last forwarded sighting per port

    async def gather(self, stream: Any) -> None:
        """Agent `topology-facts`."""
        async for event in stream.events():
            value = event.value
            if value is None or isinstance(value, DecodeFailure):
                continue  # another type (FACT_TYPES), or malformed: its topic's projection dead-letters it
            fact = fact_of(value)
            if fact is None:
                continue
            if fact["kind"] == "link":
                port = (fact["device"], fact["port"])
                if self.links_seen.get(port) == fact["remote"]:
                    continue
                self.links_seen[port] = fact["remote"]
            at = getattr(value.data, "at", value.occurred_at)
            await self.facts.send(key=NETWORK, value={**fact, "at": at.isoformat()})

    async def decide(self, stream: Any) -> None:
        """Agent `root-cause`: the one network view, regrouped after each fact that may change it."""
        async for event in stream.events():
            fact = event.value
            raw = self.table.get("network")
            view = Topology.model_validate(raw) if raw else Topology()
            if not applied(view, fact):
                continue
            at = datetime.fromisoformat(fact["at"])
            for alert_id, before, after in regroup(view):
                firing = view.alerts[alert_id]
                common: dict[str, Any] = {"alert_id": alert_id, "rule_id": firing.rule_id,
                                          "fingerprint": firing.fingerprint, "subject": firing.subject, "at": at}
                if after is not None:
                    root = view.alerts[after]
                    await self._send(AlertSuppressed(**common, root_alert_id=uuid.UUID(after),
                                                     root_subject=root.device),
                                     f"suppressed:{after}:{fact['at']}", firing.fingerprint, alert_id)
                elif before is not None:
                    await self._send(AlertUnsuppressed(**common, root_alert_id=uuid.UUID(before)),
                                     f"unsuppressed:{before}:{fact['at']}", firing.fingerprint, alert_id)
            self.table["network"] = view.model_dump(mode="json")

    async def _send(self, data: AlertSuppressed | AlertUnsuppressed, what: str, key: str, alert_id: str) -> None:
        envelope = REGISTRY.event(data, event_id=derived_event_id(uuid.UUID(alert_id), what), occurred_at=data.at,
                                  source=SOURCE, subject=key)
        log.info("alerts.regrouped", alert_id=alert_id, change=what)
        await self.events.send(key=key.encode(), value=envelope)


def register(app: faust.App, settings: Settings, *, sources: Any, facts: Any, events: Any) -> RootCause:
    agents = RootCause(app, settings, facts=facts, events=events)
    app.agent(sources, name="topology-facts")(agents.gather)
    app.agent(facts, name="root-cause")(agents.decide)
    return agents
