"""The event registry: what goes on the wire comes back as the same event, and bad bytes fail loudly."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.catalog import REGISTRY
from schemas.cylinders.events import (
    CustodyCorrected,
    CylinderAdded,
    CylinderOverdue,
    CylinderRefilled,
    CylinderReturned,
    CylinderSentToRefill,
    CylinderShipped,
    CylinderStatus,
    CylinderTrashed,
    LabelReprinted,
    RetestDueSoon,
    ScanAction,
    ScanRecorded,
    ScanRejected,
)
from schemas.envelope import Envelope, Payload, derived_event_id
from schemas.files.events import FileUploaded
from schemas.identity.events import AuditRecorded
from schemas.ingress.events import (
    IngressLimitExceeded,
    IngressReadingCorrected,
    IngressReadingRetracted,
    IngressReadingSubmitted,
)
from schemas.registry import EventDecodeError, Registry
from tests.helpers.factories import reading, reading_body

READING_ID = uuid.UUID("01920000-0000-7000-8000-000000000001")
SHA = "ab" * 32

def cylinder_samples() -> dict[type[Payload], Payload]:
    code, at = "CYL-0123456789ABC", datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    common = {"qr_code": code, "version": 2, "at": at, "worker": "r.osei", "scan_id": "s-1"}
    samples: list[Payload] = [
        ScanRecorded(client_scan_id="s-1", qr_code=code, action=ScanAction.ship, counterparty="Acme Welding",
                     location="Depot 1", scanned_at=at, worker="r.osei"),
        CylinderAdded(**common, retest_due=date(2036, 11, 1), location="Depot 1"),
        CylinderShipped(**common, customer="Acme Welding"),
        CylinderReturned(**common, customer="Acme Welding"),
        CustodyCorrected(**common, recorded_holder="Acme Welding", actual_holder="Bolt Works"),
        CylinderSentToRefill(**common, station="North fill"),
        CylinderRefilled(**common, station="North fill"),
        CylinderTrashed(**common, reason="dented"),
        LabelReprinted(**common),
        ScanRejected(**common, action=ScanAction.ship, reason="not available", status=CylinderStatus.sent),
        CylinderOverdue(qr_code=code, version=3, at=at, customer="Acme Welding", days_without_scan=61),
        RetestDueSoon(qr_code=code, version=3, at=at, retest_due=date(2026, 12, 1)),
    ]
    return {type(s): s for s in samples}


def alert_samples() -> dict[type[Payload], Payload]:
    from schemas.alerts import lifecycle, rules, silences

    a = SimpleNamespace(**{**vars(rules), **vars(lifecycle), **vars(silences)})

    at, fp, alert = datetime(2026, 11, 1, 9, 30, tzinfo=UTC), "0f" * 16, uuid.UUID(int=7)
    rule = {"rule_id": "uplink-hot", "name": "Uplink hot", "severity": a.Severity.high, "labels": {"team": "noc"},
            "params": a.MetricThreshold(metric=a.Metric.utilisation, raise_above=80, clear_below=60)}
    common = {"alert_id": alert, "rule_id": "uplink-hot", "fingerprint": fp, "subject": "sw1/ge-0/0/1", "at": at}
    silence = uuid.UUID(int=9)
    samples: list[Payload] = [
        a.AlertRuleCreated(**rule), a.AlertRuleUpdated(**rule, version=2),
        a.AlertRuleDeleted(rule_id="uplink-hot", version=3),
        a.SilenceCreated(silence_id=silence, matchers=(a.Matcher(label="device", value="sw1"),), starts_at=at,
                         ends_at=datetime(2026, 11, 2, tzinfo=UTC), created_by="m.chen",
                         recurrence=a.Recurrence(every="weekly", timezone="Europe/Berlin", start=time(2),
                                                 end=time(4), weekdays=(6,))),
        a.SilenceDeleted(silence_id=silence, by="m.chen", at=at), a.SilenceExpired(silence_id=silence, at=at),
        a.AlertAcknowledgeRequested(fingerprint=fp, at=at, by="m.chen", alert_id=alert, note="on it", until=at),
        a.AlertResolveRequested(fingerprint=fp, at=at, by="m.chen", alert_id=alert),
        a.AlertRaiseRequested(fingerprint=fp, at=at, by="m.chen", subject="system", severity=a.Severity.info,
                              summary="maintenance tonight"),
        a.AlertRaised(**common, severity=a.Severity.high, summary="Uplink hot", labels={"device": "sw1"}, value=91.0),
        a.AlertAcknowledged(**common, by="m.chen", note="on it", until=at),
        a.AlertUnacknowledged(**common, acknowledged_by="m.chen"),
        a.AlertResolved(**common, reason="cleared", value=55.0),
        a.AlertFlapping(**common, changes=5, window_s=900), a.AlertStable(**common, firing=True),
        a.AlertSilenced(**common, silence_id=silence, until=at), a.AlertUnsilenced(**common, silence_id=silence),
        a.AlertSuppressed(**common, root_alert_id=uuid.UUID(int=12), root_subject="dist-1"),
        a.AlertUnsuppressed(**common, root_alert_id=uuid.UUID(int=12)),
        a.AlertCommandRefused(command_id=uuid.UUID(int=11), command_type="AlertAcknowledgeRequested",
                              fingerprint=fp, alert_id=alert, reason="the alert is not firing", at=at),
    ]
    return {type(s): s for s in samples}


def device_samples() -> dict[type[Payload], Payload]:
    from schemas.devices.cameras import CameraRegistered, CameraRemoved, CameraStreamChecked, CameraUpdated
    from schemas.devices.events import (
        DeviceDiscovered,
        DeviceIdentified,
        DeviceReachable,
        DeviceRegistered,
        DeviceRemoved,
        DeviceStatusChanged,
        DeviceUnreachable,
        DeviceUpdated,
        InterfaceCounters,
        InterfaceCountersSampled,
        InterfaceOperStatusChanged,
        InterfaceRateComputed,
        TopologyLinkObserved,
    )

    at, device = datetime(2026, 11, 1, 9, 30, tzinfo=UTC), "0192aaaa-0000-7000-8000-000000000001"
    spec = {"name": "sw-core-1", "device_type": "switch", "management_ip": "10.0.0.1", "site": "HQ",
            "tags": ("core",), "snmp_version": "3", "snmp_user": "ops", "auth_protocol": "SHA-256",
            "priv_protocol": "AES-128", "credentials_version": 1}
    camera = {"camera_id": "cam-1", "name": "Gate", "url": "rtsp://10.0.0.9/stream", "credentials_version": 1}
    samples: list[Payload] = [
        DeviceRegistered(device_id=device, version=1, at=at, **spec),
        DeviceUpdated(device_id=device, version=2, at=at, **{**spec, "credentials_version": 2}),
        DeviceRemoved(device_id=device, version=3, at=at),
        CameraRegistered(version=1, at=at, **camera),
        CameraUpdated(version=2, at=at, **camera),
        CameraRemoved(camera_id="cam-1", version=3, at=at),
        InterfaceCountersSampled(device_id=device, sampled_at=at, sys_uptime_ticks=100, hc=True, poll_ms=12.5,
                                 interfaces=(InterfaceCounters(if_index=1, name="Gi1/0/1", in_octets=10),)),
        DeviceReachable(device_id=device, at=at, response_ms=3.5),
        DeviceUnreachable(device_id=device, at=at, reason="no SNMP response"),
        DeviceIdentified(device_id=device, at=at, sys_name="sw", sys_descr="IOS", sys_object_id="1.3.6.1.4.1.9"),
        DeviceDiscovered(sweep_id="sweep-1", ip="10.0.0.2", at=at, sys_name="sw2", snmp_version="2c"),
        TopologyLinkObserved(device_id=device, local_port="Gi1/0/1", remote_chassis_id="00:11:22:33:44:55",
                             remote_port="Gi0/1", remote_sys_name="sw-dist", at=at),
        InterfaceRateComputed(device_id=device, if_index=1, at=at, interval_s=60, in_bps=1e6, out_bps=5e5,
                              in_utilisation=0.001),
        InterfaceOperStatusChanged(device_id=device, if_index=1, previous="up", current="down", at=at),
        DeviceStatusChanged(device_id=device, previous="up", current="down", at=at, reason="timeout"),
        CameraStreamChecked(camera_id="cam-1", checked_at=at, url="rtsp://10.0.0.9/stream", reachable=True,
                            status_code=200, latency_ms=12.0, codec="H264", width=640, height=480),
        *image_samples(at),
    ]
    return {type(s): s for s in samples}


def image_samples(at: datetime) -> list[Payload]:
    from schemas.images.events import ImageAnalysed, ImageRejected, ImageUploaded, image_id_of
    from schemas.images.health import (
        CameraImageDegraded,
        CameraImageRecovered,
        CameraSnapshotAnalysed,
        CameraSnapshotFailed,
    )

    sha = "ab" * 32
    image = image_id_of(sha)
    return [
        ImageUploaded(image_id=image, sha256=sha, size_bytes=3_266_224, format="JPEG", content_type="image/jpeg",
                      original_name="tap.jpg", subject_type="cylinder", subject_id="CYL-0123456789ABC",
                      caption="dented", at=at),
        ImageAnalysed(image_id=image, sha256=sha, format="JPEG", width=3000, height=4000, orientation=6,
                      taken_at=at, make="Opsledger", model="FieldCam 12", phash="c3a1f0e2d4b59687", brightness=0.4,
                      contrast=0.2, sharpness=900.0, gps_latitude=48.8566, gps_longitude=2.3522,
                      thumbnails={"128": sha, "512": sha}, public_sha256=sha, at=at),
        ImageRejected(image_id=image, sha256=sha, code="polyglot", reason="the file is also a ZIP archive", at=at),
        CameraSnapshotAnalysed(camera_id="cam-1", image_id=image, taken_at=at, phash="c3a1f0e2d4b59687",
                               luma_grid="AAAA", brightness=0.4, contrast=0.2, sharpness=800.0),
        CameraSnapshotFailed(camera_id="cam-1", at=at, error="no frame within 15 s"),
        CameraImageDegraded(camera_id="cam-1", kind="frozen", at=at, detail="the same frame in 5 snapshots"),
        CameraImageRecovered(camera_id="cam-1", kind="frozen", at=at),
    ]


def analytics_samples() -> dict[type[Payload], Payload]:
    from schemas.analytics.events import (
        AnomalyCleared,
        AnomalyDetected,
        CapacityForecastRequested,
        CapacityForecastUpdated,
        ForecastPoint,
        MetricPoint,
        MetricPointsScored,
        MetricPointsSubmitted,
        MetricRollupsClosed,
        RollupBucket,
        ScoredPoint,
    )

    at, series = datetime(2026, 11, 1, 9, 30, tzinfo=UTC), "device/d-1/if/1/utilisation"
    samples: list[Payload] = [
        MetricPointsSubmitted(series="ml/team/x", points=(MetricPoint(t=at, value=1.5),)),
        MetricPointsScored(points=(ScoredPoint(series=series, t=at, value=0.4, score=0.1, expected=0.38, lower=0.3,
                                               upper=0.45, seen=3000, warm=True),)),
        MetricRollupsClosed(buckets=(RollupBucket(series=series, width_s=60, start=at, count=1, min=0.4, max=0.4,
                                                  sum=0.4, p95=0.4),), late={series: 2}),
        AnomalyDetected(series=series, at=at, score=0.97, value=0.9, expected=0.4, lower=0.3, upper=0.5,
                        reason="deviation"),
        AnomalyCleared(series=series, at=at, score=0.1, value=0.41),
        CapacityForecastUpdated(series=series, device_id="d-1", if_index=1, at=at, threshold=0.8, horizon_hours=24,
                                current=0.4, slope_per_day=0.01, season="day", hours_until=None,
                                hours_until_pessimistic=20.0, history_hours=72,
                                points=(ForecastPoint(at=at, value=0.41, lower=0.3, upper=0.5),)),
        CapacityForecastRequested(request_id="r-1", at=at, by="user:1"),
    ]
    return {type(s): s for s in samples}


PAYLOADS: dict[type[Payload], Payload] = {
    IngressReadingSubmitted: IngressReadingSubmitted(reading_id=READING_ID, reading=reading(attachments=(SHA,))),
    IngressReadingCorrected: IngressReadingCorrected(reading_id=READING_ID, version=2,
                                                     reading=reading(level_dbmv=-31.5)),
    IngressReadingRetracted: IngressReadingRetracted(reading_id=READING_ID, version=3, reason="wrong house"),
    IngressLimitExceeded: IngressLimitExceeded(reading_id=READING_ID, version=1, node_id="N1", level_dbmv=-5.0,
                                               limit_dbmv=-10.0, exceeded_by_db=5.0, limit_rule="5-15:-10"),
    FileUploaded: FileUploaded(sha256=SHA, size_bytes=1234, content_type="image/png", original_name="meter.png"),
    AuditRecorded: AuditRecorded(actor="user:1", actor_name="m.chen", role="worker", action="POST /api/ingress",
                                 subject="r-1", outcome="succeeded", status=202, client="127.0.0.1",
                                 request_id="req-1"),
    **cylinder_samples(),
    **alert_samples(),
    **device_samples(),
    **analytics_samples(),
}


def envelope_of(data: Payload, **meta: Any) -> Envelope:
    return REGISTRY.event(data, source="tests.unit", subject=str(READING_ID), **meta)


def wire_body(**overrides: Any) -> dict[str, Any]:
    body = envelope_of(PAYLOADS[IngressReadingSubmitted]).wire_dict()
    body.update(overrides)
    return body


def test_every_registered_type_has_a_sample_payload() -> None:
    assert {t.model for t in REGISTRY.types()} == set(PAYLOADS)


@pytest.mark.parametrize("model", list(PAYLOADS), ids=lambda m: m.__name__)
def test_encode_then_decode_returns_the_same_event(model: type[Payload]) -> None:
    event = envelope_of(PAYLOADS[model], actor="m.chen", correlation_id="req-1", causation_id=uuid.uuid4())

    decoded = REGISTRY.decode(REGISTRY.encode(event))

    assert decoded == event
    assert type(decoded.data) is model
    assert decoded.type == model.__name__
    assert decoded.schema_version == REGISTRY.of(model).version


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, "empty message"),
        (b"", "not JSON"),
        (b"{not json", "not JSON"),
        (b"[1, 2, 3]", "not a JSON object"),
        (b'"IngressReadingSubmitted"', "not a JSON object"),
    ],
)
def test_decode_refuses_bytes_that_are_not_an_event_object(raw: bytes | None, message: str) -> None:
    with pytest.raises(EventDecodeError, match=message):
        REGISTRY.decode(raw)


def test_decode_refuses_an_unknown_type_and_names_it() -> None:
    with pytest.raises(EventDecodeError, match="unknown event type 'SpaceshipLaunched'"):
        REGISTRY.decode(orjson.dumps(wire_body(type="SpaceshipLaunched")))


def test_decode_refuses_a_missing_type() -> None:
    body = wire_body()
    del body["type"]
    with pytest.raises(EventDecodeError, match="unknown event type None"):
        REGISTRY.decode(orjson.dumps(body))


@pytest.mark.parametrize("data", ["missing", None, "a string", [1, 2]])
def test_decode_refuses_missing_or_non_object_data(data: Any) -> None:
    body = wire_body()
    if data == "missing":
        del body["data"]
    else:
        body["data"] = data
    with pytest.raises(EventDecodeError, match="data must be an object"):
        REGISTRY.decode(orjson.dumps(body))


@pytest.mark.parametrize("version", ["2", 2.0, None, [2], True])
def test_decode_refuses_a_schema_version_that_is_not_an_integer(version: Any) -> None:
    with pytest.raises(EventDecodeError, match="schema_version an integer"):
        REGISTRY.decode(orjson.dumps(wire_body(schema_version=version)))


def test_decode_refuses_a_schema_version_newer_than_the_reader() -> None:
    with pytest.raises(EventDecodeError, match=r"IngressReadingSubmitted v3 is newer than this reader \(v2\)"):
        REGISTRY.decode(orjson.dumps(wire_body(schema_version=3)))


def test_decode_refuses_an_invalid_payload_and_names_the_field() -> None:
    body = wire_body()
    body["data"]["reading"]["level_dbmv"] = 500
    with pytest.raises(EventDecodeError, match="invalid IngressReadingSubmitted.*level_dbmv"):
        REGISTRY.decode(orjson.dumps(body))


def test_decode_refuses_an_invalid_envelope_field() -> None:
    with pytest.raises(EventDecodeError, match="subject"):
        REGISTRY.decode(orjson.dumps(wire_body(subject="")))


def test_a_v1_submission_without_install_phase_is_upcast_to_v2_after_install() -> None:
    v1_reading = reading_body()
    del v1_reading["install_phase"]
    body = wire_body(schema_version=1, data={"reading_id": str(READING_ID), "version": 1, "reading": v1_reading})

    decoded = REGISTRY.decode(orjson.dumps(body))

    assert decoded.schema_version == 2
    assert isinstance(decoded.data, IngressReadingSubmitted)
    assert decoded.data.reading.install_phase == "after"
    assert decoded.data.reading.node_id == v1_reading["node_id"]
    assert decoded.event_id == uuid.UUID(body["event_id"])


def test_the_upcaster_keeps_an_install_phase_that_is_already_there() -> None:
    body = wire_body(schema_version=1, data={"reading_id": str(READING_ID), "version": 1,
                                             "reading": reading_body(install_phase="before")})

    decoded = REGISTRY.decode(orjson.dumps(body))

    assert isinstance(decoded.data, IngressReadingSubmitted)
    assert decoded.data.reading.install_phase == "before"


def test_an_older_version_without_an_upcaster_is_refused() -> None:
    body = envelope_of(PAYLOADS[IngressLimitExceeded]).wire_dict()
    body["schema_version"] = 0
    with pytest.raises(EventDecodeError, match="no upcaster for IngressLimitExceeded v0"):
        REGISTRY.decode(orjson.dumps(body))


def test_envelope_and_payload_are_frozen() -> None:
    retraction = IngressReadingRetracted(reading_id=READING_ID, version=2, reason="wrong house")
    event = envelope_of(retraction)
    with pytest.raises(ValidationError):
        event.subject = "someone-else"
    with pytest.raises(ValidationError):
        retraction.reason = "edited"
    assert (event.subject, retraction.reason) == (str(READING_ID), "wrong house")


def test_the_registry_refuses_a_type_registered_twice() -> None:
    class SomethingHappened(Payload):
        what: str

    registry = Registry()
    registry.register(SomethingHappened, "things")
    with pytest.raises(ValueError, match="SomethingHappened registered twice"):
        registry.register(SomethingHappened, "other.things")
    assert registry.topics() == ["things"]


uuid7_like = st.builds(
    lambda ms, rand_a, rand_b: uuid.UUID(int=(ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b),
    st.integers(0, 2**48 - 1), st.integers(0, 2**12 - 1), st.integers(0, 2**62 - 1),
)
derived_types = st.text(min_size=1, max_size=40)


@given(cause=uuid7_like, derived_type=derived_types)
def test_derived_event_id_is_a_deterministic_uuid7_with_the_causes_timestamp(cause: uuid.UUID,
                                                                            derived_type: str) -> None:
    derived = derived_event_id(cause, derived_type)

    assert derived == derived_event_id(cause, derived_type)
    assert derived.version == 7
    assert derived.variant == uuid.RFC_4122
    assert derived.int >> 80 == cause.int >> 80
    assert derived != cause


@given(cause=uuid7_like, other=uuid7_like, derived_type=derived_types, other_type=derived_types)
def test_derived_event_id_differs_for_a_different_cause_or_type(cause: uuid.UUID, other: uuid.UUID,
                                                                derived_type: str, other_type: str) -> None:
    if other != cause:
        assert derived_event_id(cause, derived_type) != derived_event_id(other, derived_type)
    if other_type != derived_type:
        assert derived_event_id(cause, derived_type) != derived_event_id(cause, other_type)


def test_derived_event_id_sorts_with_its_cause_by_time() -> None:
    earlier = uuid.UUID("01920000-0000-7000-8000-000000000001")
    later = uuid.UUID("01930000-0000-7000-8000-000000000001")
    assert derived_event_id(earlier, "IngressLimitExceeded") < derived_event_id(later, "IngressLimitExceeded")


def test_the_type_guessed_from_the_bytes_never_decides_alone() -> None:
    """decode() looks for the first `"type":"…"` in the bytes to validate against that type's envelope only; when
    that finds a nested field (keys in another order), the whole envelope is checked and the union decides."""
    import orjson

    from schemas.alerts.lifecycle import AlertRaised

    raised = alert_samples()[AlertRaised]
    labelled = raised.model_copy(update={"labels": {"type": "IngressReadingSubmitted", "site": "north"}})
    event = REGISTRY.event(labelled, source="test", subject="s")
    as_dict = orjson.loads(REGISTRY.encode(event))
    reordered = orjson.dumps({"data": as_dict["data"], **{k: v for k, v in as_dict.items() if k != "data"}})
    assert reordered.find(b'"type":"IngressReadingSubmitted"') < reordered.find(b'"type":"AlertRaised"')
    decoded = REGISTRY.decode(reordered)
    assert decoded.type == "AlertRaised" and decoded.event_id == event.event_id
    assert decoded.data == labelled
