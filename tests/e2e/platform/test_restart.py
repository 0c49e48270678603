"""Restart: `opsledger up` stopped with Ctrl-C and started again has the same history and read models, and new
events keep flowing. The embedded broker keeps its log in memory, so this proves the restore."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from infra.entry.embedded import free_port
from tests.helpers.factories import reading_body
from tests.helpers.support import ADMIN_PASSWORD, ROOT, wait_until


def start_up(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSLEDGER_", "KAFKA_", "DATABASE_"))}
    env.update(OPSLEDGER_DATA_DIR=str(data_dir), OPSLEDGER_API_PORT=str(port), PYTHONUNBUFFERED="1",
               OPSLEDGER_DEMO_ADMIN_PASSWORD=ADMIN_PASSWORD)
    log = open(data_dir.parent / f"up-{port}.log", "ab")  # noqa: SIM115 - closed with the process
    # the living demo would keep adding events: this test compares the history before and after a restart
    proc = subprocess.Popen([sys.executable, "-m", "infra.entry.cli", "up", "--no-live-demo"], env=env, cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200, timeout=90,
               what="opsledger up to be ready")
    return proc


def signed_in(port: int) -> httpx.Client:
    url = f"http://127.0.0.1:{port}"

    def login() -> str | None:  # the demo admin appears once the demo data is seeded
        answer = httpx.post(f"{url}/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        return str(answer.json()["access_token"]) if answer.status_code == 200 else None

    token = wait_until(login, timeout=60, what="the demo admin to sign in")
    return httpx.Client(base_url=url, timeout=15, headers={"Authorization": f"Bearer {token}"})


def stop_up(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    assert proc.wait(timeout=120) == 0


def everything(api: httpx.Client) -> dict[str, Any]:
    """The whole history and the ingress read model, as a user can see them."""
    events, cursor = [], None
    while True:
        params = {"order": "oldest", "limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/events", params=params).json()
        events += [(e["topic"], e["partition"], e["offset"], e["event_id"]) for e in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    readings, cursor = [], None
    while True:
        page = api.get("/api/ingress", params={"limit": 500, **({"cursor": cursor} if cursor else {})}).json()
        readings += page["items"]
        if not (cursor := page["next_cursor"]):
            break
    return {"events": events, "readings": sorted(readings, key=lambda r: r["id"])}


def settled(api: httpx.Client) -> bool:
    ready = api.get("/readyz").json()
    return ready.get("processor_lag") == 0 and not any(ready.get("projection_lag", {"x": 1}).values())


def test_stop_and_start_loses_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    proc = start_up(data_dir, port)
    try:
        with signed_in(port) as api:
            for level in (-40.0, -5.0, 3.5):  # the last two exceed their limit line: derived events too
                assert api.post("/api/ingress", json=reading_body(level_dbmv=level)).status_code == 202
            added = api.post("/api/cylinders/add", params={"wait": "true"}, json={"count": 1}).json()
            code = added["qr_codes"][0]
            shipped = api.post("/api/cylinders/ship", params={"wait": "true"},
                               json={"qr_codes": [code], "counterparty": "Acme Welding"})
            assert shipped.json()["outcomes"][0]["outcome"] == "CylinderShipped"
            wait_until(lambda: settled(api), timeout=60, what="the stack to settle")
            before = everything(api)
    finally:
        stop_up(proc)
    assert len(before["readings"]) == 303  # 300 demo readings + 3
    assert any(r["limit_exceeded"] for r in before["readings"])

    proc = start_up(data_dir, port)
    try:
        with signed_in(port) as api:
            wait_until(lambda: settled(api), timeout=60, what="the restarted stack to settle")
            after = everything(api)
            known = len(before["events"])
            assert after["events"][:known] == before["events"]  # same history: same topic/partition/offset/id
            assert {e[0] for e in after["events"][known:]} <= {"audit"}  # since then: only our sign-in, audited
            assert after["readings"] == before["readings"]
            # the processor's table (Faust changelog, restored from the archive) still knows Acme holds the cylinder
            returned = api.post("/api/cylinders/return", params={"wait": "true"},
                                json={"qr_codes": [code], "counterparty": "Acme Welding"})
            assert returned.json()["outcomes"][0]["outcome"] == "CylinderReturned", returned.text
            created = api.post("/api/ingress", params={"wait": "true"}, json=reading_body(level_dbmv=9.0))
            assert created.status_code == 201, created.text
            wait_until(lambda: api.get(f"/api/ingress/{created.json()['id']}").json()["limit_exceeded"],
                       timeout=30, what="the processor to judge a reading produced after the restart")
            wait_until(lambda: settled(api), timeout=60, what="the stack to settle again")
            new = [e[0] for e in everything(api)["events"][known:] if e[0] in ("ingress.readings",
                                                                               "ingress.evaluations")]
            assert sorted(new) == ["ingress.evaluations", "ingress.readings"]  # the new reading + its verdict
    finally:
        stop_up(proc)
