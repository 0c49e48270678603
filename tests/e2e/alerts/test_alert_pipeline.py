"""The alert pipeline end to end on a stack of its own: simulated switches (snmpsim) polled by the real pollers,
rates from the processor, a metric_threshold rule made through the API, the alert engine, the alerts read model,
and the notifier process delivering to a real SMTP server (aiosmtpd) and a real HTTP receiver.

legacy32 (infra/bench/snmpdata) has 8 ports of 100 Mb/s; port p carries p * 100,000 octets/s in, so its utilisation
is p * 0.8 %: only port 8 (6.4 %) is above 6 %, and ports 4-8 (3.2-6.4 %) are above 3 %.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.bench.snmpsim import Agent, running_agent
from tests.helpers.notify_receivers import Behaviour, HttpReceiver, SmtpReceiver
from tests.helpers.support import Stack, own_backbone, running_stack, wait_until

SECRET = "e2e-webhook-secret-" + uuid.uuid4().hex
DEVICES = ["edge-a", "edge-b", "edge-c", "edge-d"]  # communities of one snmpsim process, each serving legacy32
BURST_PORTS = range(4, 9)  # above 3 %
NOTIFY = {"OPSLEDGER_NOTIFY_GROUP_WAIT_S": "0.3", "OPSLEDGER_NOTIFY_GROUP_INTERVAL_S": "1",
          "OPSLEDGER_NOTIFY_REPEAT_INTERVAL_S": "3600", "OPSLEDGER_NOTIFY_POLL_INTERVAL_S": "0.05",
          "OPSLEDGER_NOTIFY_BACKOFF_BASE_S": "0.05", "OPSLEDGER_NOTIFY_BACKOFF_MAX_S": "0.2",
          "OPSLEDGER_NOTIFY_GROUP_BY": "device,interface", "OPSLEDGER_NOTIFY_SMTP_STARTTLS": "false",
          "OPSLEDGER_NOTIFY_SMTP_FROM": "opsledger@example.org", "OPSLEDGER_NOTIFY_SMTP_TO": "oncall@example.org",
          "OPSLEDGER_NOTIFY_WEBHOOK_SECRET": SECRET, "OPSLEDGER_POLLER_RELOAD_S": "1"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Stack, Agent, SmtpReceiver, HttpReceiver]]:
    with ExitStack() as stack:
        agent = stack.enter_context(running_agent(dict.fromkeys(DEVICES, "legacy32"), workdir=tmp_path,
                                                  log_level="error"))
        smtp, hook = SmtpReceiver().start(), HttpReceiver(SECRET).start()
        stack.callback(smtp.stop)
        stack.callback(hook.stop)
        backbone = stack.enter_context(own_backbone(tmp_path / "backbone"))
        env = {**NOTIFY, "OPSLEDGER_NOTIFY_SMTP_HOST": "127.0.0.1", "OPSLEDGER_NOTIFY_SMTP_PORT": str(smtp.port),
               "OPSLEDGER_NOTIFY_WEBHOOK_URL": hook.url}
        running = stack.enter_context(running_stack(
            backbone, tmp_path / "stack", ("projections", "processors", "api", "pollers", "notifier"), **env))
        yield running, agent, smtp, hook


def ok(answer: httpx.Response, status: int) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def register(api: httpx.Client, agent: Agent, community: str) -> str:
    body = {"name": community, "device_type": "router", "management_ip": agent.host, "snmp_port": agent.port,
            "site": "lab", "polling_interval_s": 5, "snmp": {"version": "2c", "community": community}}
    return str(ok(api.post("/api/devices/", params={"wait": "true"}, json=body), 201)["device_id"])


def rule_body(raise_above: float, clear_below: float) -> dict[str, Any]:
    return {"name": "Interface busy", "severity": "high", "labels": {"team": "noc"}, "flapping": None,
            "params": {"kind": "metric_threshold", "metric": "utilisation", "raise_above": raise_above,
                       "clear_below": clear_below}}


def alerts_of(api: httpx.Client, rule_id: str) -> list[dict[str, Any]]:
    return list(ok(api.get("/api/alerts/", params={"rule": rule_id, "limit": 200}), 200)["items"])


def firing_alert(api: httpx.Client, rule_id: str) -> dict[str, Any] | None:
    found = alerts_of(api, rule_id)
    return found[0] if found and found[0]["status"] == "firing" else None


def all_raised(api: httpx.Client, rule_id: str, count: int) -> list[dict[str, Any]] | None:
    found = alerts_of(api, rule_id)
    return found if len(found) == count else None


def history(api: httpx.Client, alert_id: str) -> list[str]:
    return [h["type"] for h in ok(api.get(f"/api/alerts/{alert_id}"), 200)["history"]]


def hook_alerts(hook: HttpReceiver) -> list[tuple[str, str, str]]:
    """(Idempotency-Key, status, fingerprint) of every alert in every distinct accepted webhook delivery."""
    with hook.lock:
        by_key = {p.headers["Idempotency-Key"]: p.json for p in hook.accepted}
    return [(key, a["status"], a["fingerprint"]) for key, body in by_key.items() for a in body["alerts"]]


def settle(smtp: SmtpReceiver, hook: HttpReceiver, emails: int, posts: int, what: str) -> None:
    """Wait for exactly this many deliveries, then past two group_interval ticks: nothing more comes."""
    wait_until(lambda: len(smtp.accepted) >= emails and len(hook.accepted) >= posts, timeout=30, what=what)
    time.sleep(2.5)
    assert (len(smtp.accepted), len(hook.accepted)) == (emails, posts), what


def test_an_interface_over_threshold_alerts_once_notifies_once_and_survives_a_killed_notifier(
        world: tuple[Stack, Agent, SmtpReceiver, HttpReceiver]) -> None:
    stack, agent, smtp, hook = world
    with stack.client() as api:
        first = register(api, agent, DEVICES[0])
        rule_id = f"busy-{secrets.token_hex(4)}"
        made = api.post("/api/alerts/rules", params={"wait": "true"}, json={"rule_id": rule_id, **rule_body(6.0, 5.0)})
        ok(made, 201)

        # raised once, for port 8 only; notified once on each channel, the webhook signed
        alert = wait_until(lambda: firing_alert(api, rule_id), timeout=60, interval=0.5, what="the alert of port 8")
        assert alert is not None
        assert alert["labels"]["device"] == first and alert["labels"]["if_index"] == "8"
        assert (alert["severity"], alert["labels"]["team"]) == ("high", "noc")
        settle(smtp, hook, 1, 1, "one email and one webhook for the raised alert")
        time.sleep(5)  # another poll: the same problem raises nothing new
        assert len(alerts_of(api, rule_id)) == 1 and history(api, alert["alert_id"]) == ["AlertRaised"]
        assert hook.accepted[0].signature_ok and smtp.accepted[0]["Subject"].startswith("[FIRING:1]")
        assert hook_alerts(hook) == [(hook.accepted[0].headers["Idempotency-Key"], "firing", alert["fingerprint"])]

        # acknowledged for 3 s: the ack expires while the interface is still busy
        until = datetime.now(UTC) + timedelta(seconds=3)
        acked = ok(api.post(f"/api/alerts/{alert['alert_id']}/acknowledge", params={"wait": "true"},
                            json={"note": "on it", "until": until.isoformat()}), 200)
        assert acked["status"] == "acknowledged"
        wait_until(lambda: "AlertUnacknowledged" in history(api, alert["alert_id"]), timeout=20,
                   what="the acknowledgement to expire")
        assert ok(api.get(f"/api/alerts/{alert['alert_id']}"), 200)["status"] == "firing"
        settle(smtp, hook, 2, 2, "the alert shown again once its acknowledgement expired")

        # the rule's threshold raised above the rate (PUT with If-Match): the next rate clears it
        rule = api.get(f"/api/alerts/rules/{rule_id}")
        changed = api.put(f"/api/alerts/rules/{rule_id}", params={"wait": "true"}, json=rule_body(50.0, 40.0),
                          headers={"If-Match": rule.headers["ETag"]})
        assert ok(changed, 200)["version"] == 2
        wait_until(lambda: alerts_of(api, rule_id)[0]["status"] == "resolved", timeout=30, interval=0.5,
                   what="the alert to resolve")
        assert alerts_of(api, rule_id)[0]["resolve_reason"] == "cleared"
        assert history(api, alert["alert_id"]) == ["AlertRaised", "AlertAcknowledged", "AlertUnacknowledged",
                                                   "AlertResolved"]
        settle(smtp, hook, 3, 3, "one resolved notice on each channel")
        assert hook_alerts(hook)[-1][1:] == ("resolved", alert["fingerprint"])
        assert smtp.accepted[-1]["Subject"].startswith("[RESOLVED:1]")
        assert all(p.signature_ok for p in hook.accepted)

        # a burst: three more devices, then a rule over 3 % -> 5 ports x 4 devices = 20 alerts, each its own group
        others = [register(api, agent, d) for d in DEVICES[1:]]
        time.sleep(11)  # two polls each, so every device has rates when the rule arrives
        smtp.behaviour, hook.behaviour = Behaviour(delay_s=0.15), Behaviour(delay_s=0.15)  # a burst takes seconds
        before_mail, before_hook = len(smtp.accepted), len(hook.accepted)

        def burst_deliveries() -> int:
            return len(smtp.accepted) - before_mail + len(hook.accepted) - before_hook

        burst_rule = f"busy-{secrets.token_hex(4)}"
        ok(api.post("/api/alerts/rules", params={"wait": "true"}, json={"rule_id": burst_rule, **rule_body(3.0, 2.0)}),
           201)
        notifier = stack.components["notifier"]
        for kills in (4, 14):  # SIGKILL mid-burst twice (of 40 deliveries), restart each time
            wait_until(lambda n=kills: burst_deliveries() >= n,  # type: ignore[misc]
                       timeout=60, interval=0.02, what=f"{kills} burst deliveries before a kill")
            assert burst_deliveries() < 40, "the burst was over before the kill"
            notifier.kill()
            notifier = stack.start("notifier")
        expected = {(d, str(p)) for d in [first, *others] for p in BURST_PORTS}
        raised = wait_until(lambda: all_raised(api, burst_rule, len(expected)), timeout=60, interval=0.5,
                            what="20 burst alerts")
        assert raised is not None
        assert {(a["labels"]["device"], a["labels"]["if_index"]) for a in raised} == expected
        fingerprints = {a["fingerprint"] for a in raised}

        def burst_mail() -> set[str]:
            with smtp.lock:
                return {str(m["Message-ID"]) for m in smtp.accepted[before_mail:]}

        wait_until(lambda: {f for _, _, f in hook_alerts(hook)} >= fingerprints and len(burst_mail()) == 20,
                   timeout=90, interval=0.2, what="every burst alert on both channels")
        time.sleep(2.5)
        assert notifier.alive(), notifier.log()[-3000:]

    # by what a receiver dedupes on: each burst alert in exactly one distinct delivery per channel
    burst = [(key, status, f) for key, status, f in hook_alerts(hook) if f in fingerprints]
    assert sorted(f for _, _, f in burst) == sorted(fingerprints) and {s for _, s, _ in burst} == {"firing"}
    assert len({key for key, _, _ in burst}) == 20 and len(burst_mail()) == 20
    with smtp.lock:
        subjects = [m["Subject"] for m in smtp.accepted[before_mail:]]
    assert len({str(m) for m in subjects}) == 20  # one subject per device/interface group
    resent = len(hook.accepted) - before_hook - 20 + len(subjects) - 20
    assert resent <= 4, f"at most one resend per channel per kill, got {resent}"
    assert all(p.signature_ok for p in hook.accepted)
