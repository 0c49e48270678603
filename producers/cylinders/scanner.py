"""`opsledger scan`: a USB barcode scanner types one code per line; each becomes a scan sent to the API with an
API key. Scans that cannot be sent (offline, server trouble) wait in a local buffer file and go first next time."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

BATCH = 100


@dataclass
class Scanner:
    api_url: str
    api_key: str
    action: str
    counterparty: str | None
    location: str | None
    buffer: Path
    say: Callable[[str], None]

    def scan_of(self, code: str) -> dict[str, Any]:
        return {"client_scan_id": str(uuid.uuid4()), "qr_code": code, "action": self.action,
                "counterparty": self.counterparty, "location": self.location,
                "scanned_at": datetime.now(UTC).isoformat()}

    def run(self, lines: Iterable[str]) -> int:
        """Send what is buffered, then every scanned line; returns how many scans are still buffered."""
        with httpx.Client(base_url=self.api_url, headers={"X-API-Key": self.api_key}, timeout=15) as client:
            pending = self._load()
            if pending:
                self.say(f"sending {len(pending)} buffered scan(s)")
            pending = self._send(client, pending)
            for line in lines:
                code = line.strip().upper()
                if not code:
                    continue
                pending = self._send(client, [*pending, self.scan_of(code)])
        self._save(pending)
        return len(pending)

    def _send(self, client: httpx.Client, scans: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send in batches; what the server did not take (unreachable, 5xx, 429) is returned to keep."""
        for start in range(0, len(scans), BATCH):
            batch = scans[start:start + BATCH]
            try:
                answer = client.post("/api/scans", params={"wait": "true"}, json={"scans": batch})
            except httpx.HTTPError as e:
                self.say(f"offline ({type(e).__name__}): {len(scans) - start} scan(s) kept for later")
                return scans[start:]
            if answer.status_code >= 500 or answer.status_code == 429:
                self.say(f"server busy ({answer.status_code}): {len(scans) - start} scan(s) kept for later")
                return scans[start:]
            if answer.status_code >= 400:  # refused as given (bad code, no permission): retrying cannot help
                detail = answer.json().get("detail", answer.text) if answer.content else answer.reason_phrase
                for scan in batch:
                    self.say(f"{scan['qr_code']}: refused ({answer.status_code}) {detail}")
                continue
            for outcome in answer.json().get("outcomes") or []:
                result = outcome["outcome"] or "recorded (not decided yet)"
                reason = f": {outcome['reason']}" if outcome.get("reason") else ""
                self.say(f"{outcome['qr_code']}: {result}{reason}")
        return []

    def _load(self) -> list[dict[str, Any]]:
        if not self.buffer.exists():
            return []
        return [orjson.loads(line) for line in self.buffer.read_bytes().splitlines() if line.strip()]

    def _save(self, scans: list[dict[str, Any]]) -> None:
        if not scans:
            self.buffer.unlink(missing_ok=True)
            return
        self.buffer.parent.mkdir(parents=True, exist_ok=True)
        self.buffer.write_bytes(b"".join(orjson.dumps(s) + b"\n" for s in scans))
