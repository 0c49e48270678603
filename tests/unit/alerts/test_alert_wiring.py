"""The pure parts of the alert wiring: events as observations (device, camera, cylinder, ingress, generic), the wire
format between the two agent stages, silenced marks, the rule book's fold, and how requests are decided."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from processors.alerts.book import RuleBook
from processors.alerts.decisions import decide_command
from processors.alerts.machine import Phase, evaluate, initial_state, silence
from processors.alerts.observations import from_wire, observations_of, to_wire
from processors.alerts.rules import MetricSample, Reachability, SourceEvent, classify
from schemas.alerts.identity import fingerprint
from schemas.alerts.lifecycle import (
    AlertAcknowledgeRequested,
    AlertCommandRefused,
    AlertRaised,
    AlertRaiseRequested,
    AlertSilenced,
    AlertUnsilenced,
)
from schemas.alerts.rules import (
    AlertRule,
    AlertRuleCreated,
    AlertRuleDeleted,
    AlertRuleUpdated,
    CylinderAlertEvent,
    CylinderEvents,
    Metric,
    Severity,
)
from schemas.alerts.silences import Matcher, SilenceCreated, SilenceExpired
from schemas.catalog import REGISTRY
from schemas.cylinders.events import CylinderStatus, ScanAction, ScanRejected
from schemas.devices.cameras import CameraStreamChecked
from schemas.devices.events import DeviceUnreachable, InterfaceRateComputed
from schemas.envelope import Envelope, Payload
from schemas.ingress.events import IngressLimitExceeded

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
CODE = "CYL-0123456789ABC"


def wrapped(data: Payload, subject: str = "s") -> Envelope:
    # device and camera payloads are not registered yet (issue 5): build the envelope by hand
    return Envelope(type=type(data).__name__, source="test", subject=subject, occurred_at=T0, data=data)


def test_interface_rates_become_metric_samples_about_the_interface() -> None:
    rate = InterfaceRateComputed(device_id="sw1", if_index=3, name="ge-0/0/3", at=T0, interval_s=60, in_bps=9e8,
                                 out_bps=1e8, in_utilisation=0.9, out_utilisation=0.1, in_errors_per_s=0.5)
    samples = {o.metric: o for o in observations_of(wrapped(rate)) if isinstance(o, MetricSample)}
    assert samples[Metric.utilisation].value == 90.0  # percent, the busier direction
    assert samples[Metric.error_rate].value == 0.5 and samples[Metric.in_bps].value == 9e8
    assert {o.subject for o in samples.values()} == {"sw1/ge-0/0/3"}
    assert samples[Metric.in_bps].labels == {"device": "sw1", "interface": "ge-0/0/3", "if_index": "3"}


def test_unreachable_devices_and_failing_cameras_are_reachability() -> None:
    down, = [o for o in observations_of(wrapped(DeviceUnreachable(device_id="sw1", at=T0, reason="timeout")))
             if isinstance(o, Reachability)]
    assert (down.target, down.reachable, down.subject) == ("device", False, "sw1")
    answered_404 = CameraStreamChecked(camera_id="cam-7", checked_at=T0, url="rtsp://10.0.0.7/live", reachable=True,
                                       status_code=404)
    camera, = [o for o in observations_of(wrapped(answered_404)) if isinstance(o, Reachability)]
    assert (camera.target, camera.reachable, camera.labels["camera"]) == ("camera", False, "cam-7")


def test_cylinder_and_ingress_events_are_about_the_cylinder_and_the_node() -> None:
    rejected = ScanRejected(qr_code=CODE, version=2, at=T0, action=ScanAction.ship, reason="not available",
                            status=CylinderStatus.sent)
    event, = observations_of(REGISTRY.event(rejected, source="t", subject=CODE))
    assert isinstance(event, SourceEvent) and (event.subject, event.event_type) == (CODE, "ScanRejected")
    exceeded = IngressLimitExceeded(reading_id=uuid.uuid4(), version=1, node_id="N-ALDER-01", level_dbmv=-5,
                                    limit_dbmv=-10, exceeded_by_db=5, limit_rule="5-15:-10")
    node, = observations_of(REGISTRY.event(exceeded, source="t", subject=str(exceeded.reading_id)))
    assert node.subject == "N-ALDER-01" and node.labels == {"node_id": "N-ALDER-01"}


def test_observations_survive_the_internal_topic() -> None:
    rate = InterfaceRateComputed(device_id="sw1", if_index=3, at=T0, interval_s=60, in_bps=1, out_bps=2)
    for observation in observations_of(wrapped(rate)):
        assert from_wire(to_wire(observation)) == observation


RULE = AlertRule(rule_id="rejects", version=1, name="Rejected scans", severity=Severity.medium,
                 params=CylinderEvents(event_types=(CylinderAlertEvent.ScanRejected,)))


def rejected(n: int) -> SourceEvent:
    return SourceEvent(observation_id=f"obs-{n}", subject=CODE, event_type="ScanRejected", labels={"qr_code": CODE})


def test_a_silence_covering_a_new_alert_rides_on_its_raise_and_later_changes_are_events() -> None:
    quiet = uuid.uuid4()
    state, events = evaluate(RULE, initial_state("rejects", CODE), rejected(1), T0)
    state, events = silence(state, events, quiet, T0 + timedelta(hours=1), T0)
    assert isinstance(events[0], AlertRaised) and events[0].silenced_by == quiet and state.silenced_by == quiet
    state, events = silence(state, [], None, None, T0 + timedelta(minutes=5))
    assert isinstance(events[0], AlertUnsilenced) and events[0].silence_id == quiet
    assert silence(state, [], None, None, T0)[1] == []  # nothing changed: nothing said
    state, events = silence(state, [], quiet, T0 + timedelta(hours=1), T0 + timedelta(minutes=6))
    assert isinstance(events[0], AlertSilenced) and state.silenced_by == quiet


def test_the_rule_book_folds_versions_and_forgets_ended_silences() -> None:
    book = RuleBook()
    book.apply(REGISTRY.event(AlertRuleCreated(**RULE.model_dump(exclude={"version"})), source="t", subject="r"))
    renamed = AlertRuleUpdated(**{**RULE.model_dump(), "version": 2, "name": "Renamed"})
    book.apply(REGISTRY.event(renamed, source="t", subject="r"))
    book.apply(REGISTRY.event(AlertRuleCreated(**RULE.model_dump(exclude={"version"})), source="t", subject="r"))
    assert book.rules["rejects"].name == "Renamed"  # a late repeat of version 1 changes nothing
    silence_id = uuid.uuid4()
    created = SilenceCreated(silence_id=silence_id, matchers=(Matcher(label="qr_code", value=CODE),), starts_at=T0,
                             ends_at=T0 + timedelta(hours=1), created_by="m.chen", mode="skip_evaluation")
    book.apply(REGISTRY.event(created, source="t", subject=str(silence_id)))
    assert book.skips({"qr_code": CODE}, T0 + timedelta(minutes=1))
    assert not book.skips({"qr_code": CODE}, T0 + timedelta(hours=2))
    book.apply(REGISTRY.event(SilenceExpired(silence_id=silence_id, at=T0), source="t", subject=str(silence_id)))
    book.apply(REGISTRY.event(created, source="t", subject=str(silence_id)))  # redelivered: stays ended
    assert book.silences == {}
    book.apply(REGISTRY.event(AlertRuleDeleted(rule_id="rejects", version=3), source="t", subject="r"))
    assert book.rules == {} and "rejects" in book.deleted
    assert classify(RULE.params, rejected(1)) is not None


def command(data: Payload) -> Envelope:
    return REGISTRY.event(data, source="t", subject="s")


def test_requests_that_do_not_fit_are_refused_not_dropped() -> None:
    book, fp = RuleBook(), fingerprint("rejects", CODE)
    state, _ = evaluate(RULE, initial_state("rejects", CODE), rejected(1), T0)
    assert state.phase is Phase.firing and state.alert_id is not None
    stale = command(AlertAcknowledgeRequested(fingerprint=fp, at=T0, by="m.chen", alert_id=uuid.uuid4(),
                                              until=T0 + timedelta(hours=1)))
    _, events = decide_command(book, state, stale)
    assert isinstance(events[0], AlertCommandRefused) and "not firing" in events[0].reason
    ack = command(AlertAcknowledgeRequested(fingerprint=fp, at=T0, by="m.chen", alert_id=state.alert_id,
                                            until=T0 + timedelta(hours=1)))
    acked, events = decide_command(book, state, ack)
    assert type(events[0]).__name__ == "AlertAcknowledged" and acked is not None and acked.ack is not None
    manual = AlertRaiseRequested(fingerprint=fingerprint(None, "system"), at=T0, by="m.chen", subject="system",
                                 severity=Severity.info, summary="maintenance")
    firing, events = decide_command(book, None, command(manual))
    assert isinstance(events[0], AlertRaised) and events[0].rule_id is None
    _, again = decide_command(book, firing, command(manual))
    assert isinstance(again[0], AlertCommandRefused)


def test_two_system_wide_incidents_with_different_labels_are_two_alerts() -> None:
    """Dedup by the whole identifying label set (DOMAIN.md): the API keys a manual request by the fingerprint of its
    subject and labels, and the processor decides each fingerprint's state on its own."""
    book = RuleBook()

    def request(labels: dict[str, str]) -> Envelope:
        return command(AlertRaiseRequested(fingerprint=fingerprint(None, "system", labels), at=T0, by="m.chen",
                                           subject="system", severity=Severity.critical, summary="incident",
                                           labels=labels))

    power, cooling = request({"incident": "power"}), request({"incident": "cooling"})
    assert power.data.fingerprint != cooling.data.fingerprint  # type: ignore[attr-defined]
    power_state, [power_raised] = decide_command(book, None, power)
    cooling_state, [cooling_raised] = decide_command(book, None, cooling)
    assert isinstance(power_raised, AlertRaised) and isinstance(cooling_raised, AlertRaised)
    assert power_raised.alert_id != cooling_raised.alert_id
    assert (power_raised.fingerprint, cooling_raised.fingerprint) == (power.data.fingerprint,  # type: ignore[attr-defined]
                                                                       cooling.data.fingerprint)  # type: ignore[attr-defined]
    _, [again] = decide_command(book, power_state, request({"incident": "power"}))  # the same labels: the same alert
    assert isinstance(again, AlertCommandRefused)
    assert fingerprint(None, "system", {"a": "1", "b": "2"}) == fingerprint(None, "system", {"b": "2", "a": "1"})
    assert fingerprint(None, "system", {}) == fingerprint(None, "system")  # alerts raised before labels counted
