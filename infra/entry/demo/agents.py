"""The demo's simulated peers: three switches served by snmpsim (infra/bench/snmpdata/demo.py; daily traffic, one
spiking port) of which the access switch goes down for a while and comes back, and a camera stream when
GStreamer's RTSP server is installed."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from infra.bench.rtsp_server import RtspTestServer, gstreamer_available
from infra.bench.snmpdata.demo import ACCESS, CORE, DIST
from infra.bench.snmpsim import Agent, start_agent, stop_agent

SWITCHES = (CORE, DIST, ACCESS)  # (snmprec file, sysName, chassis id); the community is the sysName
# The demo's peers listen on a loopback address of their own: pollers and probes may not reach loopback
# (producers/devices/outbound.py), and `opsledger up` opens only this one address to them (DEMO_ALLOW_NETWORKS),
# never 127.0.0.1 where the platform's own services listen.
DEMO_HOST = "127.0.0.2"
DEMO_ALLOW_NETWORKS = f"{DEMO_HOST}/32,0.0.0.0/0,::/0"  # the demo address, and everywhere the default allows


def snmpsim_available() -> bool:
    try:
        import snmpsim  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class Peers:
    workdir: Path
    ports: dict[str, int]  # sysName -> UDP port, kept across runs so the registered devices stay right
    agents: dict[str, Agent] = field(default_factory=dict)
    camera: RtspTestServer | None = None

    def start_switch(self, name: str) -> None:
        file = next(f for f, sys_name, _ in SWITCHES if sys_name == name)
        self.agents[name] = start_agent({name: file}, host=DEMO_HOST, port=self.ports[name], workdir=self.workdir,
                                        log_level="error", own_variations=True)

    def stop_switch(self, name: str) -> None:
        agent = self.agents.pop(name, None)
        if agent is not None:
            stop_agent(agent)
            shutil.rmtree(agent.log_path.parent, ignore_errors=True)

    def start(self) -> None:
        for _, name, _ in SWITCHES:
            self.start_switch(name)
        if gstreamer_available():
            self.camera = RtspTestServer(host=DEMO_HOST)
            self.camera.start()

    def stop(self) -> None:
        for name in list(self.agents):
            self.stop_switch(name)
        if self.camera is not None:
            self.camera.stop()
            self.camera = None
