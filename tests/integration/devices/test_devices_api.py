"""Devices and cameras through the real stack: the API, the pollers, the processor and the projection, against real
SNMP agents (snmpsim) and a real RTSP server (gst-rtsp-server)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from infra.bench.rtsp_server import RtspTestServer
from infra.bench.snmpdata.make_snmprec import (
    LLDP_A,
    LLDP_B,
    LLDP_C,
    LLDP_PHONE,
    switch_in_octets_per_s,
    switch_out_octets_per_s,
)
from infra.bench.snmpsim import Agent, free_udp_port, running_agent
from infra.entry.embedded import free_port
from tests.helpers.support import Stack, wait_until

pytestmark = pytest.mark.integration
COMMUNITY = f"c{secrets.token_hex(12)}"  # a real secret: snmpsim answers it with the 48-port switch recording
CAMERA_USER, CAMERA_PASSWORD = "viewer", secrets.token_urlsafe(16)
PORT = 7  # a busy port of the simulated switch: 56 Mb/s in, 28 Mb/s out


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    with running_agent({COMMUNITY: "switch48"}, workdir=tmp_path_factory.mktemp("snmpsim-devices"),
                       log_level="error") as running:
        yield running


LLDP_COMMUNITIES = {f"c{secrets.token_hex(12)}": fixture for fixture in ("lldp_a", "lldp_b", "lldp_c")}


@pytest.fixture(scope="module")
def lldp_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    with running_agent(LLDP_COMMUNITIES, workdir=tmp_path_factory.mktemp("snmpsim-lldp"), log_level="error") as running:
        yield running


@pytest.fixture(scope="module")
def camera_server() -> Iterator[RtspTestServer]:
    with RtspTestServer(username=CAMERA_USER, password=CAMERA_PASSWORD, method="digest") as server:
        yield server


def ok(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: " \
                                           f"{response.status_code} {response.text[:500]}"
    return response.json() if response.content else None


def device_body(host: str, port: int, community: str = COMMUNITY, **extra: Any) -> dict[str, Any]:
    return {"name": f"sw-{secrets.token_hex(3)}", "device_type": "switch", "management_ip": host, "snmp_port": port,
            "vendor": "Cisco", "site": "lab", "tags": ["core"], "polling_interval_s": 5,
            "snmp": {"version": "2c", "community": community}, **extra}


@pytest.fixture(scope="module")
def switch(api: httpx.Client, agent: Agent) -> dict[str, Any]:
    return ok(api.post("/api/devices/", params={"wait": "true"}, json=device_body(agent.host, agent.port)), 201)


def test_a_registered_device_is_polled_and_its_rates_match_the_simulated_traffic(
        api: httpx.Client, switch: dict[str, Any]) -> None:
    device_id = switch["device_id"]
    assert switch["snmp"] == {"version": "2c", "user": None, "auth_protocol": "none", "priv_protocol": "none",
                              "context_name": "", "secrets": "stored (redacted)"}

    def measured() -> list[dict[str, Any]]:
        found = ok(api.get(f"/api/devices/{device_id}/interfaces/{PORT}/bandwidth", params={"step": "1m"}), 200)
        return [p for p in found["points"] if p["samples"] >= 2] or []

    points = wait_until(measured, timeout=60, interval=0.5, what="two rate intervals of the polled switch")
    point = points[-1]
    assert point["in_bps"]["avg"] == pytest.approx(switch_in_octets_per_s(PORT) * 8, rel=0.01)
    assert point["out_bps"]["avg"] == pytest.approx(switch_out_octets_per_s(PORT) * 8, rel=0.01)
    for stat in ("min", "max", "p95"):
        assert point["in_bps"][stat] == pytest.approx(switch_in_octets_per_s(PORT) * 8, rel=0.01)
    assert point["utilisation"]["avg"] == pytest.approx(switch_in_octets_per_s(PORT) * 8 / 1e9, rel=0.01)

    device = ok(api.get(f"/api/devices/{device_id}"), 200)
    assert device["status"] == "up" and device["sys_name"] == "sw-core-48"
    assert device["last_poll_ms"] > 0 and device["last_poll_partial"] is False
    interfaces = ok(api.get(f"/api/devices/{device_id}/interfaces"), 200)
    assert len(interfaces) == 48
    by_index = {i["if_index"]: i for i in interfaces}
    assert by_index[12]["oper_status"] == "down" and by_index[PORT]["oper_status"] == "up"
    assert by_index[PORT]["in_bps"] == pytest.approx(switch_in_octets_per_s(PORT) * 8, rel=0.01)
    top = ok(api.get("/api/bandwidth/top", params={"by": "utilisation", "limit": 3}), 200)
    assert [(t["device_id"], t["if_index"]) for t in top][:1] == [(device_id, 47)]  # the busiest up port


def test_poll_now_returns_the_result_and_a_token_that_shows_it(api: httpx.Client, switch: dict[str, Any]) -> None:
    polled = ok(api.post(f"/api/devices/{switch['device_id']}/poll"), 200)
    assert polled["reachable"] and polled["interfaces"] == 48 and polled["sys_name"] == "sw-core-48"
    device = ok(api.get(f"/api/devices/{switch['device_id']}", params={"after": polled["consistency_token"]}), 200)
    assert device["status"] == "up" and device["last_poll_at"] is not None


def test_an_unreachable_device_goes_down_with_the_reason(api: httpx.Client) -> None:
    made = ok(api.post("/api/devices/", params={"wait": "true"},
                       json=device_body("127.0.0.1", free_udp_port(), community=f"c{secrets.token_hex(8)}")), 201)
    polled = ok(api.post(f"/api/devices/{made['device_id']}/poll"), 200)
    assert not polled["reachable"] and polled["error"]
    device = ok(api.get(f"/api/devices/{made['device_id']}", params={"after": polled["consistency_token"]}), 200)
    assert device["status"] == "down" and device["last_error"] and device["status_since"]
    summary = ok(api.get("/api/devices/status"), 200)
    assert summary["by_status"]["down"] >= 1 and summary["by_type"]["switch"] >= 2 and summary["by_site"]["lab"] >= 2


def test_updates_need_the_version_and_removal_hides_the_device(api: httpx.Client, agent: Agent) -> None:
    made = ok(api.post("/api/devices/", params={"wait": "true"}, json=device_body(agent.host, agent.port)), 201)
    url = f"/api/devices/{made['device_id']}"
    changed = device_body(agent.host, agent.port, site="branch")
    del changed["snmp"]["community"]  # kept
    assert ok(api.put(url, json=changed), 428)["status"] == 428
    ok(api.put(url, json=changed, headers={"If-Match": '"7"'}), 412)
    updated = ok(api.put(url, json=changed, headers={"If-Match": '"1"'}, params={"wait": "true"}), 200)
    assert updated["version"] == 2 and updated["site"] == "branch"
    v3 = {**changed, "snmp": {"version": "3", "user": "opsledger"}}
    ok(api.put(url, json=v3, headers={"If-Match": '"2"'}), 422)  # a new user needs its keys
    ok(api.delete(url, params={"wait": "true"}), 200)
    ok(api.get(url), 404)


@pytest.mark.parametrize("change", [
    {"management_ip": "10.0.0.300"}, {"management_ip": "not-an-ip"}, {"device_type": "toaster"},
    {"snmp": {"version": "1", "community": "public"}}, {"snmp": {"version": "2c"}},
    {"snmp": {"version": "3", "user": "u", "auth_protocol": "SHA", "auth_key": "short"}},
    {"snmp": {"version": "3", "user": "u", "priv_protocol": "AES-128", "priv_key": "long-enough-key"}},
    {"polling_interval_s": 1}, {"tags": ["has space"]},
])
def test_bad_devices_are_refused_with_problem_json(api: httpx.Client, change: dict[str, Any]) -> None:
    answer = api.post("/api/devices/", json={**device_body("10.0.0.1", 161), **change})
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_bandwidth_ranges_are_checked(api: httpx.Client, switch: dict[str, Any]) -> None:
    url = f"/api/devices/{switch['device_id']}/interfaces/1/bandwidth"
    ok(api.get(url, params={"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}), 400)
    ok(api.get(url, params={"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z", "step": "1m"}), 400)
    ok(api.get(url, params={"step": "2m"}), 422)
    ok(api.get(f"/api/devices/{uuid.uuid4()}/interfaces/1/bandwidth"), 404)


def test_a_camera_probe_reads_codec_and_resolution_through_digest_auth(
        api: httpx.Client, camera_server: RtspTestServer) -> None:
    made = ok(api.post("/api/cameras/", params={"wait": "true"},
                       json={"name": "gate", "url": camera_server.url, "location": "north gate",
                             "username": CAMERA_USER, "password": CAMERA_PASSWORD}), 201)
    assert made["credentials"] == "stored (redacted)" and CAMERA_PASSWORD not in str(made)
    tested = ok(api.post(f"/api/cameras/{made['camera_id']}/test"), 200)
    assert (tested["reachable"], tested["status_code"], tested["codec"], tested["width"], tested["height"]) == (
        True, 200, "H264", 640, 480)
    stream = ok(api.get(f"/api/cameras/{made['camera_id']}/stream",
                        params={"after": tested["consistency_token"]}), 200)
    assert stream["url"] == camera_server.url and stream["status"] == "up" and stream["codec"] == "H264"


def test_a_password_in_the_camera_url_is_kept_secret_everywhere_it_is_read(
        api: httpx.Client, camera_server: RtspTestServer) -> None:
    """XMEye and its clones take the password in the path, others as ?access_token=: neither is published."""
    secret = secrets.token_hex(8)
    base = camera_server.url.split("/", 3)
    url = f"{base[0]}//{base[2]}/user=admin_password={secret}_channel=1_stream=0.sdp?access_token={secret}x"
    made = ok(api.post("/api/cameras/", params={"wait": "true"}, json={"name": "xm", "url": url}), 201)
    tested = ok(api.post(f"/api/cameras/{made['camera_id']}/test"), 200)
    assert tested["reachable"]  # probed at the full URL
    reads = [api.get(f"/api/cameras/{made['camera_id']}"), api.get("/api/cameras/"),
             api.get(f"/api/cameras/{made['camera_id']}/stream", params={"after": tested["consistency_token"]}),
             api.get("/api/events", params={"limit": 1000})]
    for read in reads:
        assert read.status_code == 200 and secret not in read.text, read.request.url
    assert made["url"].endswith("password=REDACTED_channel=1_stream=0.sdp?access_token=REDACTED")


def test_a_camera_with_the_wrong_password_or_nothing_listening_is_down(
        api: httpx.Client, camera_server: RtspTestServer) -> None:
    wrong = ok(api.post("/api/cameras/", params={"wait": "true"},
                        json={"name": "wrong", "url": camera_server.url, "username": CAMERA_USER,
                              "password": "not-the-password"}), 201)
    tested = ok(api.post(f"/api/cameras/{wrong['camera_id']}/test"), 200)
    assert tested["status_code"] == 401 and tested["error"] == "authentication failed"
    nobody = ok(api.post("/api/cameras/", params={"wait": "true"},
                         json={"name": "gone", "url": f"rtsp://127.0.0.1:{free_port()}/stream"}), 201)
    tested = ok(api.post(f"/api/cameras/{nobody['camera_id']}/test"), 200)
    assert not tested["reachable"] and tested["error"] == "connection refused"
    stream = ok(api.get(f"/api/cameras/{nobody['camera_id']}/stream",
                        params={"after": tested["consistency_token"]}), 200)
    assert stream["status"] == "down"


@pytest.mark.parametrize("url", ["http://cam/stream", "rtsp://user:pw@cam/stream", "ftp://cam", "rtsp://"])
def test_camera_urls_other_than_rtsp_are_refused(api: httpx.Client, url: str) -> None:
    answer = api.post("/api/cameras/", json={"name": "bad", "url": url})
    assert answer.status_code == 422 and answer.headers["content-type"].startswith("application/problem+json")


def test_the_pollers_probe_registered_cameras_on_their_own(api: httpx.Client, camera_server: RtspTestServer) -> None:
    made = ok(api.post("/api/cameras/", params={"wait": "true"},
                       json={"name": "auto", "url": camera_server.url, "probe_interval_s": 5,
                             "username": CAMERA_USER, "password": CAMERA_PASSWORD}), 201)
    stream = wait_until(lambda: (s := api.get(f"/api/cameras/{made['camera_id']}/stream").json())["checked_at"]
                        and s, timeout=30, interval=0.5, what="the pollers to probe the camera")
    assert stream["codec"] == "H264" and stream["width"] == 640


def test_secrets_are_stored_encrypted(stack: Stack, switch: dict[str, Any]) -> None:
    with psycopg.connect(stack.backbone.database_url) as conn:
        rows = conn.execute("SELECT ciphertext FROM device_secrets").fetchall()
        specs = conn.execute("SELECT spec::text FROM devices").fetchall()
    assert rows and not any(COMMUNITY.encode() in bytes(r[0]) or CAMERA_PASSWORD.encode() in bytes(r[0])
                            for r in rows)
    assert not any(COMMUNITY in s[0] for s in specs)


def test_discovery_sweeps_a_bounded_range_and_finds_the_agent(api: httpx.Client, agent: Agent) -> None:
    body = {"cidr": "127.0.0.0/30", "port": agent.port,
            "credentials": [{"version": "2c", "community": "not-this-one"}, {"version": "2c", "community": COMMUNITY}]}
    swept = ok(api.post("/api/devices/discover", json=body), 200)
    assert swept["addresses"] == 2
    assert [(f["ip"], f["sys_name"], f["snmp_version"]) for f in swept["found"]] == [("127.0.0.1", "sw-core-48", "2c")]
    assert COMMUNITY not in str(swept)
    listed = ok(api.get("/api/devices/discovered", params={"after": swept["consistency_token"]}), 200)
    assert "127.0.0.1" not in [d["ip"] for d in listed]  # registered already (the switch fixture)
    for cidr in ("10.0.0.0/16", "10.0.0.300/24", "not-a-cidr"):
        answer = api.post("/api/devices/discover", json={**body, "cidr": cidr})
        assert answer.status_code == 400 and answer.headers["content-type"].startswith("application/problem+json")


def test_lldp_neighbours_give_the_topology_with_links_confirmed_from_both_ends(
        api: httpx.Client, lldp_agent: Agent) -> None:
    ids: dict[str, str] = {}
    for community, fixture in LLDP_COMMUNITIES.items():
        made = ok(api.post("/api/devices/", params={"wait": "true"},
                           json=device_body(lldp_agent.host, lldp_agent.port, community=community)), 201)
        ids[fixture] = made["device_id"]
        polled = ok(api.post(f"/api/devices/{made['device_id']}/poll"), 200)  # the pollers would, within 5 s
        assert polled["reachable"]
    a, b, c = ids["lldp_a"], ids["lldp_b"], ids["lldp_c"]

    def ours() -> dict[str, Any] | None:
        found = ok(api.get("/api/topology"), 200)
        edges = [e for e in found["edges"] if e["from"] in ids.values()]
        named = {n["id"] for n in found["nodes"] if n.get("sys_name")}
        # each poll's identity, samples and links are separate facts: the edges can be read before a sysName
        return {**found, "edges": edges} if len(edges) == 2 and edges[0]["confirmed"] != edges[1]["confirmed"] \
            and set(ids.values()) <= named else None

    topology = wait_until(ours, timeout=30, interval=0.5, what="both LLDP links, one confirmed, every switch named")
    edges = {e["confirmed"]: e for e in topology["edges"]}
    confirmed, unconfirmed = edges[True], edges[False]
    # a and b name each other (port Gi1/0/1 of a to Gi1/0/2 of b): one edge, whichever end reported it first
    assert {(confirmed["from"], confirmed["from_port"]), (confirmed["to"], confirmed["to_port"])} == {
        (a, "Gi1/0/1"), (b, "Gi1/0/2")}
    # c names a phone nobody registered: an unknown node, named by its sysName
    phone = f"lldp:{LLDP_PHONE[0]}"
    assert (unconfirmed["from"], unconfirmed["from_port"], unconfirmed["to"], unconfirmed["to_port"]) == (
        c, "Gi1/0/1", phone, "eth0")
    nodes = {n["id"]: n for n in topology["nodes"]}
    assert {a, b, c} <= nodes.keys() and all(nodes[i]["registered"] for i in (a, b, c))
    assert (nodes[a]["sys_name"], nodes[b]["sys_name"], nodes[c]["sys_name"]) == (LLDP_A[0], LLDP_B[0], LLDP_C[0])
    assert nodes[phone]["registered"] is False and nodes[phone]["chassis_id"] == LLDP_PHONE[1]

    # a removed device takes its links with it: b's view of a is no longer confirmed by anyone registered
    ok(api.delete(f"/api/devices/{a}", params={"wait": "true"}), 200)
    after = ok(api.get("/api/topology"), 200)
    assert a not in {n["id"] for n in after["nodes"]}
    assert not any(e["confirmed"] for e in after["edges"] if e["from"] in ids.values())


def test_moving_a_device_to_another_address_or_port_needs_its_secrets_again(api: httpx.Client, agent: Agent) -> None:
    """Otherwise an operator could point the stored community at a host of their own and read it off the wire."""
    made = ok(api.post("/api/devices/", params={"wait": "true"}, json=device_body(agent.host, agent.port)), 201)
    url = f"/api/devices/{made['device_id']}"
    for moved in (device_body("127.0.0.99", agent.port), device_body(agent.host, agent.port + 1)):
        del moved["snmp"]["community"]
        answer = ok(api.put(url, json=moved, headers={"If-Match": '"1"'}), 422)
        assert "again" in answer["detail"]
    with_secrets = ok(api.put(url, json=device_body("127.0.0.99", agent.port), headers={"If-Match": '"1"'},
                              params={"wait": "true"}), 200)
    assert with_secrets["management_ip"] == "127.0.0.99" and with_secrets["version"] == 2


def test_moving_a_camera_to_another_host_or_port_needs_its_login_again(
        api: httpx.Client, camera_server: RtspTestServer) -> None:
    made = ok(api.post("/api/cameras/", params={"wait": "true"},
                       json={"name": "moved", "url": camera_server.url, "username": CAMERA_USER,
                             "password": CAMERA_PASSWORD}), 201)
    url = f"/api/cameras/{made['camera_id']}"
    elsewhere = camera_server.url.replace("127.0.0.1", "127.0.0.98")
    other_port = f"rtsp://127.0.0.1:{free_port()}/stream"
    for moved in (elsewhere, other_port):
        answer = ok(api.put(url, json={"name": "moved", "url": moved}, headers={"If-Match": '"1"'}), 422)
        assert "again" in answer["detail"]
    renamed = ok(api.put(url, json={"name": "renamed", "url": camera_server.url}, headers={"If-Match": '"1"'},
                         params={"wait": "true"}), 200)
    assert renamed["name"] == "renamed" and renamed["credentials"] == "stored (redacted)"
    relogged = ok(api.put(url, json={"name": "renamed", "url": elsewhere, "username": CAMERA_USER,
                                     "password": CAMERA_PASSWORD}, headers={"If-Match": '"2"'},
                          params={"wait": "true"}), 200)
    assert relogged["version"] == 3


def test_the_top_interfaces_rank_an_interface_the_poller_has_not_listed(api: httpx.Client, stack: Stack) -> None:
    """Rates can reach the analytics before the interface table (history loaded straight into devices.rates, or a
    poll that has not walked ifTable yet): the ranking names such an interface by its index, it does not fail."""
    import asyncio
    from datetime import UTC, datetime

    from infra.producer import EventProducer
    from schemas.catalog import REGISTRY
    from schemas.devices.events import InterfaceRateComputed

    made = ok(api.post("/api/devices/", params={"wait": "true"}, json=device_body("127.0.0.1", free_udp_port(),
                                                                                  polling_interval_s=3600)), 201)
    device_id, index = made["device_id"], 4242
    rate = InterfaceRateComputed(device_id=device_id, if_index=index, at=datetime.now(UTC), interval_s=60.0,
                                 in_bps=1000.0, out_bps=1.0, in_utilisation=1e-6, out_utilisation=0.0)

    async def send() -> None:
        producer = EventProducer(stack.backbone.bootstrap, client_id="top-unlisted")
        await producer.start()
        try:
            await producer.emit_many([REGISTRY.event(rate, source="tests", subject=device_id)])
        finally:
            await producer.stop()

    asyncio.run(send())

    def ranked() -> list[Any]:
        top = ok(api.get("/api/bandwidth/top", params={"by": "in_bps", "limit": 500}), 200)
        return [t for t in top if t["device_id"] == device_id]
    wait_until(lambda: bool(ranked()), timeout=60, what="the unlisted interface to be ranked")
    assert [(t["if_index"], t["name"]) for t in ranked()] == [(index, None)]
