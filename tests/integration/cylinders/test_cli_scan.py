"""`opsledger scan`: a barcode scanner's lines become scans; offline scans wait in a buffer and go later."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import httpx

from infra.entry.embedded import free_port
from tests.helpers.support import ROOT, Stack


def scan_cli(stack: Stack, key: str, stdin: str, *args: str, api_url: str | None = None
             ) -> subprocess.CompletedProcess[str]:
    env = {**stack.env(), "OPSLEDGER_API_KEY": key, "OPSLEDGER_API_URL": api_url or stack.api_url}
    return subprocess.run([sys.executable, "-m", "infra.entry.cli", "scan", *args], input=stdin, env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_scanner_lines_become_scans_and_offline_scans_are_sent_later(stack: Stack, api: httpx.Client,
                                                                        tmp_path: Path) -> None:
    made = api.post("/api/auth/api-keys", json={"name": "dock scanner", "scopes": ["scans:write"]})
    key = made.json()["key"]
    codes = api.post("/api/cylinders/add", params={"wait": "true"}, json={"count": 2}).json()["qr_codes"]
    customer = f"Acme {secrets.token_hex(3)}"
    buffer = tmp_path / "buffer.jsonl"

    shipped = scan_cli(stack, key, "\n".join(c.lower() for c in codes) + "\n\n", "--action", "ship", "--to", customer,
                       "--buffer", str(buffer))
    assert shipped.returncode == 0, shipped.stderr
    assert [f"{c}: CylinderShipped" for c in codes] == shipped.stdout.strip().splitlines()
    assert not buffer.exists()

    offline = scan_cli(stack, key, codes[0] + "\n", "--action", "return", "--from", customer, "--buffer",
                       str(buffer), api_url=f"http://127.0.0.1:{free_port()}")
    assert offline.returncode == 0, offline.stderr
    assert "offline" in offline.stdout and len(buffer.read_text().splitlines()) == 1
    assert api.get(f"/api/cylinders/{codes[0]}").json()["status"] == "sent"  # nothing reached the server

    later = scan_cli(stack, key, "", "--action", "return", "--from", customer, "--buffer", str(buffer))
    assert later.returncode == 0, later.stderr
    assert f"{codes[0]}: CylinderReturned" in later.stdout
    assert not buffer.exists()
    assert api.get(f"/api/cylinders/{codes[0]}").json()["status"] == "returned"

    misread = scan_cli(stack, key, "CYL-NOTAREALCODE\n", "--action", "ship", "--to", customer, "--buffer", str(buffer))
    assert "refused (422)" in misread.stdout and not buffer.exists()  # a bad code is not retried forever


def test_an_api_key_cannot_trash_and_the_cli_needs_a_key(stack: Stack, api: httpx.Client, tmp_path: Path) -> None:
    key = api.post("/api/auth/api-keys", json={"name": "k", "scopes": ["scans:write"]}).json()["key"]
    code = api.post("/api/cylinders/add", params={"wait": "true"}, json={"count": 1}).json()["qr_codes"][0]
    trash = httpx.post(f"{stack.api_url}/api/scans", headers={"X-API-Key": key}, json={"scans": [
        {"client_scan_id": "t", "qr_code": code, "action": "trash", "scanned_at": "2026-03-02T08:00:00+00:00"}]})
    assert trash.status_code == 403
    no_key = subprocess.run([sys.executable, "-m", "infra.entry.cli", "scan", "--action", "ship"], input="", cwd=ROOT,
                            env={k: v for k, v in stack.env().items() if k != "OPSLEDGER_API_KEY"},
                            capture_output=True, text=True, timeout=60)
    assert no_key.returncode != 0 and "OPSLEDGER_API_KEY" in no_key.stderr + no_key.stdout
