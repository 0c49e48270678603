"""What the demo puts in once, through the API: its users (created like `opsledger users create`), alert rules,
the switches and the camera, cylinders, and a first round of shipments to its customers."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from infra.entry.demo.agents import DEMO_HOST, SWITCHES

WORKERS = ("ana.worker", "ben.worker")
BOT = "demo.operator"  # the demo's admin hand: registers devices, adds cylinders, writes rules
CUSTOMERS = ("Harbor Bakery", "Mill Lane Clinic", "Orchard Brewing", "Station Garage", "Pine Road School")
RULES = (
    {"rule_id": "demo-device-down", "name": "Switch unreachable", "severity": "critical",
     "params": {"kind": "device_unreachable", "for_s": 20}},
    {"rule_id": "demo-port-spike", "name": "Port above 50 Mb/s in", "severity": "high",
     "params": {"kind": "metric_threshold", "metric": "in_bps", "raise_above": 50e6, "clear_below": 20e6}},
    {"rule_id": "demo-ingress", "name": "Ingress over its limit", "severity": "medium",
     "params": {"kind": "ingress_over_limit", "auto_resolve_s": 3600}},
    {"rule_id": "demo-camera-down", "name": "Camera down", "severity": "high",
     "params": {"kind": "camera_down", "for_s": 30}},
)


@dataclass
class DemoState:
    """Kept in the data directory (mode 0600): the demo users' passwords and the simulated agents' ports."""

    path: Path
    passwords: dict[str, str]
    ports: dict[str, int]
    seeded: bool = False

    @classmethod
    def load(cls, data_dir: Path, free_port: Any) -> DemoState:
        path = data_dir / "demo.json"
        if path.exists():
            saved = json.loads(path.read_text())
            return cls(path, saved["passwords"], saved["ports"], saved.get("seeded", False))
        return cls(path, {name: secrets.token_urlsafe(18) for name in (*WORKERS, BOT)},
                   {name: free_port() for _, name, _ in SWITCHES})

    def save(self) -> None:
        self.path.write_text(json.dumps({"passwords": self.passwords, "ports": self.ports, "seeded": self.seeded}))
        self.path.chmod(0o600)


async def ensure_users(database_url: str, state: DemoState) -> None:
    import psycopg

    from api.identity import store
    from api.identity.bootstrap import create_user

    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        missing = [name for name in (*WORKERS, BOT) if await store.user_by_name(conn, name) is None]
    for name in missing:
        await create_user(database_url, name, state.passwords[name], "admin" if name == BOT else "worker")


class Client:
    """One demo user's HTTP client: signs in, and again when its 15-minute token runs out."""

    def __init__(self, api_url: str, username: str, password: str) -> None:
        self.http = httpx.AsyncClient(base_url=api_url, timeout=30)
        self.username, self.password = username, password

    async def sign_in(self) -> None:
        answer = await self.http.post("/api/auth/login", json={"username": self.username, "password": self.password})
        answer.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        answer = await self.http.request(method, path, **kwargs)
        if answer.status_code == 401:
            await self.sign_in()
            answer = await self.http.request(method, path, **kwargs)
        return answer


async def seed(bot: Client, state: DemoState, host: str = DEMO_HOST) -> list[str]:
    """Rules, switches, cylinders and first shipments, once (a second try after a failure adds nothing twice)."""
    for rule in RULES:
        await bot.call("POST", "/api/alerts/rules", json=rule)  # a rule id already taken is refused
    registered = {d["name"] for d in (await bot.call("GET", "/api/devices/")).json()}
    for _, name, _ in SWITCHES:
        if name in registered:
            continue
        await bot.call("POST", "/api/devices/", json={
            "name": name, "device_type": "switch", "management_ip": host, "snmp_port": state.ports[name],
            "site": "Demo site", "polling_interval_s": 10, "snmp": {"version": "2c", "community": name}})
    existing = (await bot.call("GET", "/api/cylinders", params={"limit": 1})).json()["items"]
    if existing:
        return []
    added = await bot.call("POST", "/api/cylinders/add", params={"wait": "true"},
                           json={"count": 15, "location": "Depot 1"})
    codes: list[str] = added.json()["qr_codes"]
    for i, customer in enumerate(CUSTOMERS):  # each customer starts with a cylinder or two
        await bot.call("POST", "/api/cylinders/ship", json={"qr_codes": codes[2 * i:2 * i + 1 + i % 2],
                                                            "counterparty": customer})
    return codes


async def ensure_camera(bot: Client, url: str | None) -> str:
    """The demo camera points at this run's RTSP server (its port changes); a note when there is none."""
    if url is None:
        return "no camera: GStreamer's RTSP server is not installed (apt-get install gir1.2-gst-rtsp-server-1.0)"
    cameras = (await bot.call("GET", "/api/cameras/")).json()
    mine = next((c for c in cameras if c["name"] == "Demo yard camera"), None)
    body = {"name": "Demo yard camera", "url": url, "location": "Depot 1 yard", "probe_interval_s": 15}
    if mine is None:
        await bot.call("POST", "/api/cameras/", json=body)
    elif mine["url"] != url:
        await bot.call("PUT", f"/api/cameras/{mine['camera_id']}", json=body,
                       headers={"If-Match": f'"{mine["version"]}"'})
    return f"camera: {url}"
