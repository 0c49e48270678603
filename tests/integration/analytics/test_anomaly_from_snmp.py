"""An `anomaly` alert rule end to end from SNMP traffic: a real agent (snmpsim, the `daily` variation module) whose
interface carries a daily curve and, once, ten times its traffic for 15 s; the real poller, the devices processor,
the analytics processor (rollups, detector), the alert engine, the projections and the API.

The detector judges a series only after 8 days of event time (its warm-up), which a test cannot poll for. The
interface's nine days and more before the agent starts are therefore sent as the rates the devices processor would
have derived from that very agent (the module's closed-form counter, 5-minute intervals, a little noise), straight
into `devices.rates` with the poller's key; then the agent starts and everything after is polled.

The history starts at midnight UTC (nine to ten days back), not at whatever time the test runs: the detector's first
day shapes what it expects within each hour, so the day's phase at which a series starts decides where, if anywhere,
a clean curve comes closest to a false alarm. Started at 05:07-05:10 UTC this clean curve gets one (a "variance" raise
scored 0.53 a day later); from midnight it gets none at any end time (checked minute by minute over a day and every
11 minutes over a week). False alarms are the anomaly bench's to count (BENCHMARKS.md), not this test's to draw."""

from __future__ import annotations

import asyncio
import importlib.util
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.bench.snmpdata.make_snmprec import _if_row, _numeric, _oid_key, _system
from infra.bench.snmpsim import FIXTURES, free_udp_port, running_agent
from infra.producer import EventProducer
from schemas.analytics.series import interface_series
from schemas.catalog import REGISTRY
from schemas.devices.events import InterfaceRateComputed
from tests.helpers.support import Stack, wait_until

pytestmark = pytest.mark.integration

DAILY = importlib.util.spec_from_file_location("snmpsim_daily", FIXTURES / "variation" / "daily.py")
assert DAILY is not None and DAILY.loader is not None
daily = importlib.util.module_from_spec(DAILY)
DAILY.loader.exec_module(daily)

PORT = 1
SPEED_BPS = 1_000_000_000
STEP = timedelta(minutes=5)
IN_BASE, OUT_BASE = 1_000_000, 500_000  # octets/s at the curve's mean
SPIKE_IN_S, SPIKE_FOR_S, SPIKE_X = 45, 15, 10  # once, this long after the agent starts: ten times the traffic


def curve(base: int, bits: int = 64, spike_at: int | None = None) -> str:
    """The `daily` module's settings for a counter of `base` octets/s; with `spike_at`, one spike at that time (the
    module spikes at every multiple of `spike_every`: the epoch second itself is the only one to come)."""
    spike = f",spike_every={spike_at},spike_for={SPIKE_FOR_S},spike_x={SPIKE_X}" if spike_at else ""
    return f"base={base},depth=0.5,peak_hour=14,max={2**bits}{spike}"


def recording(path: Path, spike_at: int) -> Path:
    rows = _system("anomaly-sw", "Opsledger test switch") + _if_row(
        PORT, up=True, speed_mbps=SPEED_BPS // 1_000_000, errors=_numeric(65, 0),
        in_oct=("65:daily", curve(IN_BASE, 32, spike_at)), out_oct=("65:daily", curve(OUT_BASE, 32, spike_at)),
        hc=(("70:daily", curve(IN_BASE, 64, spike_at)), ("70:daily", curve(OUT_BASE, 64, spike_at))))
    path.write_text("".join(f"{oid}|{tag}|{value}\n" for oid, tag, value in sorted(rows, key=_oid_key)))
    return path


def bps(base: int, t: float) -> float:
    """The curve's mean rate over the 5 minutes up to t, in bits/s (from the module's own counter)."""
    settings = {k: float(v) for k, v in (part.split("=") for part in curve(base).split(","))}
    return (daily.counter_at(t, settings) - daily.counter_at(t - 300, settings)) * 8 / 300


def history(device_id: str, end: datetime, days: int = 9) -> list[Any]:
    """The rates the devices processor would have derived from 5-minute polls of the agent, from the midnight (UTC)
    at least `days` before `end` up to `end`, with a deterministic ±1 % of noise (a real network is never exactly on
    its curve)."""
    start = (end - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    events = []
    count = (end - start) // STEP + 1
    for i in range(count):
        at = end - STEP * (count - 1 - i)
        noise = 1 + 0.02 * ((i * 7919 % 13) / 13 - 0.5)
        in_bps, out_bps = bps(IN_BASE, at.timestamp()) * noise, bps(OUT_BASE, at.timestamp()) * noise
        rate = InterfaceRateComputed(device_id=device_id, if_index=PORT, at=at, interval_s=300.0, in_bps=in_bps,
                                     out_bps=out_bps, in_utilisation=in_bps / SPEED_BPS,
                                     out_utilisation=out_bps / SPEED_BPS, in_errors_per_s=0.0, out_errors_per_s=0.0)
        events.append(REGISTRY.event(rate, source="tests.history", subject=device_id, occurred_at=at))
    return events


async def send(bootstrap: str, events: list[Any]) -> None:
    producer = EventProducer(bootstrap, client_id="anomaly-history")
    await producer.start()
    try:
        for first in range(0, len(events), 500):
            await producer.emit_many(events[first:first + 500])
    finally:
        await producer.stop()


def alerts_of(api: httpx.Client, rule_id: str) -> list[dict[str, Any]]:
    answer = api.get("/api/alerts/", params={"rule": rule_id})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def test_snmp_traffic_that_jumps_raises_an_anomaly_alert_that_clears_when_it_is_calm_again(
        api: httpx.Client, stack: Stack, tmp_path: Path) -> None:
    community, port = f"c{secrets.token_hex(12)}", free_udp_port()
    # Registered first (the API names the device), with nothing yet listening: its polls fail until the agent runs.
    made = api.post("/api/devices/", params={"wait": "true"}, json={
        "name": f"sw-{secrets.token_hex(3)}", "device_type": "switch", "management_ip": "127.0.0.1",
        "snmp_port": port, "site": "lab", "polling_interval_s": 5, "snmp": {"version": "2c", "community": community}})
    assert made.status_code == 201, made.text
    device_id = made.json()["device_id"]
    series = interface_series(device_id, PORT, "in_bps")
    tag = secrets.token_hex(4)
    rule_id = f"anomaly-snmp-{tag}"
    rule = api.post("/api/alerts/rules", params={"wait": "true"}, json={
        "rule_id": rule_id, "name": f"Traffic anomaly {tag}", "severity": "medium", "labels": {"team": "noc"},
        "params": {"kind": "anomaly", "series": series, "min_score": 0.5}})
    assert rule.status_code == 201, rule.text

    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    asyncio.run(send(stack.backbone.bootstrap, history(device_id, end)))

    def learnt() -> bool:
        read = api.get(f"/api/ml/series/{series}/scores", params={"from": (end - STEP).isoformat()})
        assert read.status_code == 200, read.text
        return any(datetime.fromisoformat(p["t"]) == end for p in read.json()["items"])
    wait_until(learnt, timeout=120, interval=1, what="the history to be scored")
    assert alerts_of(api, rule_id) == []  # nine and more usual days: nothing to say

    spike_at = int(time.time()) + SPIKE_IN_S
    with running_agent({community: recording(tmp_path / "anomaly.snmprec", spike_at)}, port=port,
                       workdir=tmp_path, log_level="error", own_variations=True):
        firing = wait_until(lambda: [a for a in alerts_of(api, rule_id) if a["status"] == "firing"],
                            timeout=SPIKE_IN_S + SPIKE_FOR_S + 60, interval=1, what="the anomaly alert to fire")
        assert time.time() >= spike_at, "fired before the traffic jumped"
        assert len(firing) == 1 and series in str(firing[0])
        resolved = wait_until(lambda: [a for a in alerts_of(api, rule_id) if a["status"] == "resolved"],
                              timeout=120, interval=1, what="the anomaly alert to resolve once calm")
        assert [a["alert_id"] for a in resolved] == [firing[0]["alert_id"]]
        assert alerts_of(api, rule_id) == resolved  # one episode, one alert
