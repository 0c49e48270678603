"""Notifications end to end on the real embedded broker and Postgres, to a real SMTP server (aiosmtpd) and a real
HTTP receiver: one alert makes one email and one signed webhook; alerts of a group share one message; resolved alerts
are said once; redelivery, retries and a killed notifier send nothing twice and lose nothing; a receiver that always
fails gets the alert events dead-lettered with the error.

Each test has its own topic and channel names (so its own outbox projections and rows). Lifecycle envelopes are
encoded with the platform registry (schemas.catalog), as the alert processor does, and produced raw to the test's
topic.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr

from infra.kafka import end_offsets, ensure_topics
from infra.producer import EventProducer
from infra.settings import NotifySettings
from projections.alerts.notify.channel import Channel
from projections.alerts.notify.email import EmailChannel
from projections.alerts.notify.runner import run_notifier
from projections.alerts.notify.webhook import WebhookChannel
from schemas.alerts.lifecycle import AlertEvent, AlertRaised, AlertResolved, AlertUnsilenced
from schemas.alerts.rules import Severity
from schemas.catalog import REGISTRY
from schemas.envelope import utc_now
from schemas.topics import DEADLETTER
from tests.helpers.notify_receivers import Behaviour, HttpReceiver, SmtpReceiver
from tests.helpers.support import Backbone

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
SECRET = "test-webhook-secret-" + uuid.uuid4().hex  # one per run, >= 32 characters
FAST = {"OPSLEDGER_NOTIFY_GROUP_WAIT_S": "0.3", "OPSLEDGER_NOTIFY_GROUP_INTERVAL_S": "1",
        "OPSLEDGER_NOTIFY_REPEAT_INTERVAL_S": "3600", "OPSLEDGER_NOTIFY_POLL_INTERVAL_S": "0.05",
        "OPSLEDGER_NOTIFY_BACKOFF_BASE_S": "0.05", "OPSLEDGER_NOTIFY_BACKOFF_MAX_S": "0.2",
        "OPSLEDGER_NOTIFY_MAX_ATTEMPTS": "5", "OPSLEDGER_NOTIFY_GROUP_BY": "site,device",
        "OPSLEDGER_NOTIFY_SMTP_STARTTLS": "false", "OPSLEDGER_NOTIFY_SMTP_FROM": "opsledger@example.org",
        "OPSLEDGER_NOTIFY_SMTP_TO": "oncall@example.org"}


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def hook() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver(SECRET).start()
    yield receiver
    receiver.stop()


@pytest.fixture
async def topic(backbone: Backbone) -> str:
    name = f"alerts.events.test-{uuid.uuid4().hex[:8]}"
    await ensure_topics(backbone.bootstrap, [name], partitions=4)
    return name


def env_for(smtp: SmtpReceiver, hook: HttpReceiver, **extra: str) -> dict[str, str]:
    return {**FAST, "OPSLEDGER_NOTIFY_SMTP_HOST": "127.0.0.1", "OPSLEDGER_NOTIFY_SMTP_PORT": str(smtp.port),
            "OPSLEDGER_NOTIFY_WEBHOOK_URL": hook.url, "OPSLEDGER_NOTIFY_WEBHOOK_SECRET": SECRET, **extra}


def settings_for(smtp: SmtpReceiver, hook: HttpReceiver, **extra: str) -> NotifySettings:
    env = env_for(smtp, hook, **extra)
    return NotifySettings.model_validate({k.removeprefix("OPSLEDGER_NOTIFY_").lower(): v for k, v in env.items()})


def channels_for(settings: NotifySettings, name: str) -> list[Channel]:
    return [EmailChannel(settings, name=f"{name}-email"),
            WebhookChannel(settings.webhook_url, SecretStr(SECRET), name=f"{name}-webhook")]


@asynccontextmanager
async def notifier(backbone: Backbone, settings: NotifySettings, topic: str, name: str) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_notifier(settings, bootstrap=backbone.bootstrap,
                                            database_url=backbone.database_url, stop=stop, topic=topic,
                                            channels=channels_for(settings, name)))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)


def raised(n: int, *, site: str = "berlin", device: str = "sw1", flapping: bool = False) -> AlertRaised:
    return AlertRaised(alert_id=uuid.uuid4(), rule_id="uplink", fingerprint=uuid.uuid4().hex, subject=f"{device}:{n}",
                       at=utc_now(), severity=Severity.high, summary=f"Alert {n} on {device}",
                       labels={"site": site, "device": device, "port": str(n)}, flapping=flapping)


def resolved(alert: AlertRaised) -> AlertResolved:
    return AlertResolved(alert_id=alert.alert_id, rule_id=alert.rule_id, fingerprint=alert.fingerprint,
                         subject=alert.subject, at=utc_now())


async def produce(backbone: Backbone, topic: str, events: Sequence[AlertEvent]) -> None:
    producer = EventProducer(backbone.bootstrap, client_id="notify-test")
    await producer.start()
    try:
        futures = [await producer.send_raw(topic, REGISTRY.encode(REGISTRY.event(e, source="test",
                                                                                   subject=e.fingerprint)),
                                           e.fingerprint) for e in events]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def eventually(check: Any, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def fingerprints_by_key(hook: HttpReceiver) -> dict[str, set[str]]:
    with hook.lock:
        return {p.headers["Idempotency-Key"]: {a["fingerprint"] for a in p.json["alerts"] if a["status"] == "firing"}
                for p in hook.accepted}


def rows(backbone: Backbone, channel: str) -> dict[str, int]:
    with psycopg.connect(backbone.database_url) as conn:
        found = conn.execute("SELECT state, count(*) FROM notifications WHERE channel = %s GROUP BY state",
                             (channel,)).fetchall()
    return dict(found)


async def test_one_alert_makes_one_email_and_one_signed_webhook(backbone: Backbone, topic: str, smtp: SmtpReceiver,
                                                                hook: HttpReceiver) -> None:
    name, alert = f"one-{uuid.uuid4().hex[:6]}", raised(1)
    async with notifier(backbone, settings_for(smtp, hook), topic, name):
        await produce(backbone, topic, [alert])
        await eventually(lambda: smtp.accepted and hook.accepted, what="one email and one webhook")
        await asyncio.sleep(1.5)  # past a group_interval tick: nothing more comes
    assert len(smtp.accepted) == 1 and len(hook.accepted) == 1
    mail, posted = smtp.accepted[0], hook.accepted[0]
    assert mail["Subject"] == "[FIRING:1] device=sw1 site=berlin"
    assert "Alert 1 on sw1" in mail.get_content() and mail["To"] == "oncall@example.org"
    assert posted.signature_ok
    body = posted.json
    assert posted.headers["Idempotency-Key"] == body["delivery_id"]
    assert body["text"].startswith("[FIRING:1]") and body["alerts"][0]["fingerprint"] == alert.fingerprint
    assert rows(backbone, f"{name}-email") == {"sent": 1} == rows(backbone, f"{name}-webhook")


async def test_alerts_of_one_group_share_a_message_and_resolved_ones_are_said_once(
        backbone: Backbone, topic: str, smtp: SmtpReceiver, hook: HttpReceiver) -> None:
    name = f"group-{uuid.uuid4().hex[:6]}"
    same = [raised(n, device="sw1") for n in range(3)]
    other = raised(9, device="sw2")
    async with notifier(backbone, settings_for(smtp, hook), topic, name):
        await produce(backbone, topic, [*same, other])
        await eventually(lambda: len(hook.accepted) >= 2 and len(smtp.accepted) >= 2, what="two groups")
        await asyncio.sleep(0.5)
        assert len(hook.accepted) == 2 and len(smtp.accepted) == 2
        by_device = {p.json["group_labels"]["device"]: p.json for p in hook.accepted}
        assert {a["fingerprint"] for a in by_device["sw1"]["alerts"]} == {a.fingerprint for a in same}
        assert [a["fingerprint"] for a in by_device["sw2"]["alerts"]] == [other.fingerprint]
        assert sorted(m["Subject"] for m in smtp.accepted) == ["[FIRING:1] device=sw2 site=berlin",
                                                               "[FIRING:3] device=sw1 site=berlin"]

        await produce(backbone, topic, [resolved(same[0])])
        await eventually(lambda: len(hook.accepted) == 3 and len(smtp.accepted) == 3, what="the resolution")
        update = hook.accepted[2].json
        assert sorted((a["status"], a["fingerprint"]) for a in update["alerts"]) == sorted(
            [("resolved", same[0].fingerprint), ("firing", same[1].fingerprint), ("firing", same[2].fingerprint)])
        assert smtp.accepted[2]["Subject"] == "[FIRING:2, RESOLVED:1] device=sw1 site=berlin"
        await asyncio.sleep(2.5)  # two more group_interval ticks: the resolution is not said again
    assert len(hook.accepted) == 3 and len(smtp.accepted) == 3


async def test_flapping_alerts_are_held(backbone: Backbone, topic: str, smtp: SmtpReceiver,
                                        hook: HttpReceiver) -> None:
    name = f"flap-{uuid.uuid4().hex[:6]}"
    async with notifier(backbone, settings_for(smtp, hook), topic, name):
        await produce(backbone, topic, [raised(1, flapping=True), raised(2, device="sw7")])
        await eventually(lambda: hook.accepted and smtp.accepted, what="the stable alert's notification")
        await asyncio.sleep(1.5)
    assert [p.json["group_labels"]["device"] for p in hook.accepted] == ["sw7"]
    assert len(smtp.accepted) == 1
    assert rows(backbone, f"{name}-webhook") == {"sent": 1, "held": 1}


async def test_silenced_alert_is_held_until_the_processor_unsilences_it(
        backbone: Backbone, topic: str, smtp: SmtpReceiver, hook: HttpReceiver) -> None:
    name, silence = f"mute-{uuid.uuid4().hex[:6]}", uuid.uuid4()
    muted = raised(1).model_copy(update={"silenced_by": silence})
    async with notifier(backbone, settings_for(smtp, hook), topic, name):
        await produce(backbone, topic, [muted])
        await eventually(lambda: rows(backbone, f"{name}-webhook").get("held") == 1, what="held")
        await asyncio.sleep(1.5)
        assert not hook.accepted and not smtp.accepted
        await produce(backbone, topic, [AlertUnsilenced(alert_id=muted.alert_id, rule_id=muted.rule_id,
                                                        fingerprint=muted.fingerprint, subject=muted.subject,
                                                        at=utc_now(), silence_id=silence)])
        await eventually(lambda: hook.accepted and smtp.accepted, what="the alert once unsilenced")
    assert [a["fingerprint"] for a in hook.accepted[0].json["alerts"]] == [muted.fingerprint]
    assert len(smtp.accepted) == 1


async def test_redelivery_sends_nothing_twice(backbone: Backbone, topic: str, smtp: SmtpReceiver,
                                              hook: HttpReceiver) -> None:
    name = f"redeliver-{uuid.uuid4().hex[:6]}"
    settings = settings_for(smtp, hook)
    alerts = [raised(1, device="a"), raised(2, device="b")]
    async with notifier(backbone, settings, topic, name):
        await produce(backbone, topic, alerts)
        await eventually(lambda: len(hook.accepted) == 2 and len(smtp.accepted) == 2, what="two groups sent")
    with psycopg.connect(backbone.database_url, autocommit=True) as conn:  # as if the offsets were lost
        gone = conn.execute("DELETE FROM projection_offsets WHERE projection = ANY(%s)",
                            ([f"notify-{name}-email", f"notify-{name}-webhook"],)).rowcount
    assert gone > 0
    async with notifier(backbone, settings, topic, name):
        await asyncio.sleep(3)  # every event read again, past group_wait and a group_interval tick
    async with notifier(backbone, settings, topic, name):  # and a plain restart
        await asyncio.sleep(1.5)
    assert len(hook.accepted) == 2 and len(smtp.accepted) == 2
    assert rows(backbone, f"{name}-email") == {"sent": 2} == rows(backbone, f"{name}-webhook")


async def test_flaky_receivers_get_each_notification_once_after_retries(
        backbone: Backbone, topic: str, smtp: SmtpReceiver, hook: HttpReceiver) -> None:
    name = f"flaky-{uuid.uuid4().hex[:6]}"
    smtp.behaviour, hook.behaviour = Behaviour(fail_first=2), Behaviour(fail_first=3)
    async with notifier(backbone, settings_for(smtp, hook), topic, name):
        await produce(backbone, topic, [raised(1)])
        await eventually(lambda: smtp.accepted and hook.accepted, what="delivery after retries")
        await asyncio.sleep(1.5)
    assert (smtp.behaviour.tries, len(smtp.accepted)) == (3, 1)
    assert (hook.behaviour.tries, len(hook.accepted)) == (4, 1)
    assert len({p.headers["Idempotency-Key"] for p in hook.seen}) == 1  # every retry named the same delivery
    with psycopg.connect(backbone.database_url) as conn:
        attempts = conn.execute(
            "SELECT channel, array_agg(ok ORDER BY attempt), bool_and(finished_at IS NOT NULL)"
            " FROM notification_attempts WHERE channel LIKE %s GROUP BY channel ORDER BY channel",
            (f"{name}-%",)).fetchall()
    assert attempts == [(f"{name}-email", [False, False, True], True),
                        (f"{name}-webhook", [False, False, False, True], True)]


async def deadletters_of(backbone: Backbone, consumer_name: str) -> list[Any]:
    ends = await end_offsets(backbone.bootstrap, [DEADLETTER])
    consumer = AIOKafkaConsumer(bootstrap_servers=backbone.bootstrap, enable_auto_commit=False)
    await consumer.start()
    found = []
    try:
        consumer.assign(list(ends))
        for tp in ends:
            consumer.seek(tp, 0)
        deadline = time.monotonic() + 20
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end] and time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                found += [m for m in messages
                          if dict(m.headers or ()).get("opsledger.dlq.consumer") == consumer_name.encode()]
    finally:
        await consumer.stop()
    return found


async def test_a_receiver_that_always_fails_gets_the_events_dead_lettered(
        backbone: Backbone, topic: str, smtp: SmtpReceiver, hook: HttpReceiver) -> None:
    name = f"dead-{uuid.uuid4().hex[:6]}"
    smtp.behaviour, hook.behaviour = Behaviour(permanent=True, always_fail=True), Behaviour(always_fail=True)
    alert = raised(1)
    settings = settings_for(smtp, hook, OPSLEDGER_NOTIFY_MAX_ATTEMPTS="3")
    async with notifier(backbone, settings, topic, name):
        await produce(backbone, topic, [alert])
        await eventually(lambda: rows(backbone, f"{name}-webhook").get("dead") == 1
                         and rows(backbone, f"{name}-email").get("dead") == 1, what="both dead")
        await asyncio.sleep(1.0)
    assert (hook.behaviour.tries, smtp.behaviour.tries) == (3, 1)  # 550 is permanent: no retry
    for channel, attempts, error in ((f"{name}-webhook", b"3", b"HTTP 503"), (f"{name}-email", b"1", b"SMTP 550")):
        parked = await deadletters_of(backbone, f"notifier:{channel}")
        assert len(parked) == 1
        headers = dict(parked[0].headers)
        assert headers["opsledger.dlq.attempts"] == attempts and error in headers["opsledger.dlq.error"]
        assert headers["opsledger.dlq.topic"] == topic.encode()
        assert parked[0].key == alert.fingerprint.encode()
        event = REGISTRY.decode(parked[0].value)
        assert event.type == "AlertRaised" and event.data == alert
    assert SECRET.encode() not in b"".join(m.as_bytes() for m in smtp.accepted)


def start_notifier(backbone: Backbone, env: dict[str, str], topic: str, name: str, log: Path
                   ) -> subprocess.Popen[bytes]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("OPSLEDGER_", "KAFKA_", "DATABASE_"))}
    full.update(env, KAFKA_BOOTSTRAP_SERVERS=backbone.bootstrap, DATABASE_URL=backbone.database_url,
                NOTIFY_TEST_TOPIC=topic, NOTIFY_TEST_CHANNEL=name, PYTHONUNBUFFERED="1")
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "tests.helpers.notifier_proc"], env=full, cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


async def test_killed_notifier_restarts_without_duplicates_or_gaps(
        backbone: Backbone, topic: str, smtp: SmtpReceiver, hook: HttpReceiver, tmp_path: Path) -> None:
    name = f"kill-{uuid.uuid4().hex[:6]}"
    smtp.behaviour, hook.behaviour = Behaviour(delay_s=0.05), Behaviour(delay_s=0.05)
    alerts = [raised(n, device=f"dev{n}") for n in range(40)]  # 40 groups: a burst of 40 messages per channel
    env = env_for(smtp, hook, OPSLEDGER_NOTIFY_GROUP_WAIT_S="0.2")
    log = tmp_path / "notifier.log"
    process = start_notifier(backbone, env, topic, name, log)
    try:
        await produce(backbone, topic, alerts)
        for kills in (5, 15):  # kill mid-burst twice, restart each time
            await eventually(lambda n=kills: len(hook.accepted) + len(smtp.accepted) >= n, timeout=60,
                             what=f"{kills} deliveries before the kill")
            process.send_signal(signal.SIGKILL)
            process.wait()
            process = start_notifier(backbone, env, topic, name, log)
        expected = {a.fingerprint for a in alerts}
        await eventually(lambda: set().union(*fingerprints_by_key(hook).values()) == expected
                         and len(set(smtp.ids())) == len(alerts), timeout=60, what="all 40 on both channels")
        await asyncio.sleep(1.5)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0, log.read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
    # by delivery id (what a receiver dedupes on): every alert in exactly one message, on each channel
    by_key = fingerprints_by_key(hook)
    assert sorted(f for fps in by_key.values() for f in fps) == sorted(expected)
    assert len(by_key) == len(alerts) and len(set(smtp.ids())) == len(alerts)
    with hook.lock:  # a copy resent after a kill is the same message, byte for byte
        bodies: dict[str, set[bytes]] = {}
        for p in hook.accepted:
            bodies.setdefault(p.headers["Idempotency-Key"], set()).add(p.body)
    assert all(len(b) == 1 for b in bodies.values())
    subjects = {str(m["Message-ID"]): m["Subject"] for m in smtp.accepted}
    assert sorted(subjects.values()) == sorted(f"[FIRING:1] device=dev{n} site=berlin" for n in range(40))
    resent = sum(hook.ids().values()) - len(by_key) + sum(smtp.ids().values()) - len(subjects)
    assert resent <= 4, f"at most one resend per channel per kill, got {resent}"
    assert rows(backbone, f"{name}-email") == {"sent": 40} == rows(backbone, f"{name}-webhook")
