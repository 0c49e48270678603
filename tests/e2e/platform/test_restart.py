"""Restart: `opsledger up` stopped with Ctrl-C and started again has the same history and read models, and new
events keep flowing. The embedded broker keeps its log in memory, so this proves the restore."""

from __future__ import annotations

from pathlib import Path

from infra.entry.embedded import free_port
from tests.helpers.factories import reading_body
from tests.helpers.support import wait_until
from tests.helpers.up import everything, settled, signed_in, start_up, stop_up


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
