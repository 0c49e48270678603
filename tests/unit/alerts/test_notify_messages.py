"""Notification pieces without a network: the webhook signature, message formatting (email and Slack-style JSON),
the retry backoff, and the settings' refusals."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from infra.settings import NotifySettings, env_names
from projections.alerts.notify.email import build_email, message_id
from projections.alerts.notify.grouping import AlertView, Message
from projections.alerts.notify.message import notice, subject_line, text_body, webhook_payload
from projections.alerts.notify.sender import backoff
from projections.alerts.notify.webhook import sign, verify

SECRET = "s3cr3t-" + "x" * 40
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def view(fp: str, summary: str, *, firing: bool = True) -> AlertView:
    return AlertView(fingerprint=fp, alert_id=f"id-{fp}", subject=f"device:{fp}", rule_id="uplink",
                     severity="critical", summary=summary, labels={"site": "berlin", "device": fp}, firing=firing,
                     since=T0, notified_firing=not firing)


NOTICE = notice("d" * 32, "changes", '{site="berlin"}', {"site": "berlin"},
                Message(firing=(view("sw1", "Uplink saturated"), view("sw2", "Port down")),
                        resolved=(view("sw3", "Fan failed", firing=False),)))


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"text":"hi"}'
    header = sign(SECRET, body, 1_700_000_000)
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_verify_accepts_a_fresh_signature_and_refuses_tampering_replay_and_wrong_secret() -> None:
    body, now = b'{"a":1}', time.time()
    header = sign(SECRET, body, int(now))
    assert verify(SECRET, header, body, now=now)
    assert not verify(SECRET, header, body + b" ", now=now)
    assert not verify(SECRET + "x", header, body, now=now)
    assert not verify(SECRET, header, body, now=now + 3600)  # an old signature replayed
    assert not verify(SECRET, "v1=abc", body, now=now)
    assert not verify(SECRET, "t=abc,v1=abc", body, now=now)


@given(st.binary(max_size=500), st.integers(0, 2**40))
def test_a_signature_always_verifies_at_its_own_time(body: bytes, stamp: int) -> None:
    assert verify(SECRET, sign(SECRET, body, stamp), body, now=stamp)


def test_subject_and_body_list_the_group_alerts() -> None:
    assert subject_line(NOTICE) == "[FIRING:2, RESOLVED:1] site=berlin"
    body = text_body(NOTICE)
    assert "Firing (2):" in body and "Resolved (1):" in body
    assert body.index("Uplink saturated") < body.index("Port down") < body.index("Fan failed")
    assert "[CRITICAL] Uplink saturated (device:sw1)" in body
    assert f"Delivery {'d' * 32}" in body


def test_email_carries_a_message_id_from_the_delivery_id() -> None:
    mail = build_email(NOTICE, "opsledger@example.org", ["oncall@example.org", "noc@example.org"])
    assert mail["Message-ID"] == f"<{'d' * 32}@example.org>"
    assert mail["To"] == "oncall@example.org, noc@example.org"
    assert mail["Subject"] == "[FIRING:2, RESOLVED:1] site=berlin"
    assert mail.get_content_type() == "text/plain"
    assert "Port down" in mail.get_content()
    assert message_id("x", "no-at-sign") == "<x@opsledger.invalid>"


def test_webhook_payload_is_slack_compatible_and_structured() -> None:
    payload = orjson.loads(orjson.dumps(webhook_payload(NOTICE)))
    assert payload["text"].startswith("[FIRING:2, RESOLVED:1] site=berlin\n")
    assert payload["delivery_id"] == "d" * 32 and payload["status"] == "firing"
    assert [(a["status"], a["labels"]["device"]) for a in payload["alerts"]] == [
        ("firing", "sw1"), ("firing", "sw2"), ("resolved", "sw3")]


def test_repeat_is_marked_as_a_reminder() -> None:
    repeat = NOTICE.model_copy(update={"kind": "repeat"})
    assert "(reminder)" in text_body(repeat).splitlines()[0]


@pytest.mark.parametrize(("attempt", "low", "high"), [(1, 1.0, 2.0), (2, 2.0, 4.0), (3, 4.0, 8.0), (10, 30.0, 60.0)])
def test_backoff_doubles_and_is_capped(attempt: int, low: float, high: float) -> None:
    assert backoff(attempt, base_s=2.0, max_s=60.0, rand=0.0) == low
    assert backoff(attempt, base_s=2.0, max_s=60.0, rand=0.999999) == pytest.approx(high, rel=1e-5)


@given(st.integers(1, 500), st.floats(0, 1, exclude_max=True), st.floats(0.01, 10), st.floats(10, 3600))
def test_backoff_stays_within_half_and_all_of_its_ceiling(attempt: int, rand: float, base: float, cap: float) -> None:
    wait = backoff(attempt, base_s=base, max_s=cap, rand=rand)
    ceiling = min(cap, base * 2.0 ** (attempt - 1))
    assert ceiling / 2 <= wait <= ceiling


def test_settings_refuse_a_webhook_without_a_strong_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSLEDGER_NOTIFY_WEBHOOK_URL", "https://hooks.example.org/x")
    with pytest.raises(ValidationError, match="at least 32"):
        NotifySettings()
    monkeypatch.setenv("OPSLEDGER_NOTIFY_WEBHOOK_SECRET", "short")
    with pytest.raises(ValidationError, match="at least 32"):
        NotifySettings()
    monkeypatch.setenv("OPSLEDGER_NOTIFY_WEBHOOK_SECRET", SECRET)
    settings = NotifySettings()
    assert settings.webhook_secret == SecretStr(SECRET) and SECRET not in repr(settings)


def test_settings_need_sender_and_recipients_with_smtp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSLEDGER_NOTIFY_SMTP_HOST", "mail.example.org")
    with pytest.raises(ValidationError, match="SMTP_FROM"):
        NotifySettings()
    monkeypatch.setenv("OPSLEDGER_NOTIFY_SMTP_FROM", "opsledger@example.org")
    monkeypatch.setenv("OPSLEDGER_NOTIFY_SMTP_TO", "a@example.org, b@example.org")
    monkeypatch.setenv("OPSLEDGER_NOTIFY_GROUP_BY", "site, device")
    settings = NotifySettings()
    assert settings.recipients == ["a@example.org", "b@example.org"]
    assert settings.group_labels == ("site", "device")
    assert settings.smtp_password is None  # no default secret


def test_settings_refuse_repeat_shorter_than_group_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSLEDGER_NOTIFY_GROUP_INTERVAL_S", "600")
    monkeypatch.setenv("OPSLEDGER_NOTIFY_REPEAT_INTERVAL_S", "60")
    with pytest.raises(ValidationError, match="repeat_interval"):
        NotifySettings()


def test_env_names_are_prefixed() -> None:
    wanted = {"OPSLEDGER_NOTIFY_WEBHOOK_SECRET", "OPSLEDGER_NOTIFY_GROUP_WAIT_S", "OPSLEDGER_NOTIFY_MAX_ATTEMPTS"}
    assert wanted <= env_names()
