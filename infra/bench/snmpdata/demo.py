"""Writes the demo's simulated switches (run: python -m infra.bench.snmpdata.demo): three switches that see each
other over LLDP, whose ports carry a daily traffic curve (the `daily` variation module beside this file), one port
of the distribution switch spiking every 10 minutes. `opsledger up` serves them with snmpsim (infra/entry/demo)."""

from __future__ import annotations

from infra.bench.snmpdata.make_snmprec import _if_row, _lldp, _numeric, _system, write

PORTS = 8
SPEED_MBPS = 1000
# (file, sysName, chassis MAC): core -- dist (port 1 <-> 1), dist -- access (port 2 <-> 1)
CORE = ("demo_core", "demo-core-1", "02:00:00:00:0d:01")
DIST = ("demo_dist", "demo-dist-1", "02:00:00:00:0d:02")
ACCESS = ("demo_access", "demo-access-1", "02:00:00:00:0d:03")
SPIKE_PORT = 5  # on the distribution switch


def _daily(base: int, *, spike: bool = False, hc: bool = False) -> tuple[str, str]:
    extra = ",spike_every=600,spike_for=90,spike_x=12" if spike else ""
    return f"{70 if hc else 65}:daily", f"base={base},depth=0.8,peak_hour=14,max={2**64 if hc else 2**32}{extra}"


def demo_switch(name: str, neighbours: list[tuple[int, str, str, str]], *, spiking: bool = False,
                ) -> list[tuple[str, str, str]]:
    rows = _system(name, f"Opsledger demo switch {name}")
    for port in range(1, PORTS + 1):
        up = port != PORTS  # the last port is unplugged
        base = (2_000_000 if port <= 2 else 150_000 * port) if up else 0  # uplinks carry the most
        spike = spiking and port == SPIKE_PORT
        rows += _if_row(port, up=up, speed_mbps=SPEED_MBPS, in_oct=_daily(base, spike=spike),
                        out_oct=_daily(base // 2, spike=spike), errors=_numeric(65, 1 if up else 0, extra=",wrap=1"),
                        hc=(_daily(base, spike=spike, hc=True), _daily(base // 2, spike=spike, hc=True)))
    return rows + _lldp(PORTS, neighbours)


def build() -> dict[str, list[tuple[str, str, str]]]:
    return {
        CORE[0]: demo_switch(CORE[1], [(1, DIST[2], "Gi1/0/1", DIST[1])]),
        DIST[0]: demo_switch(DIST[1], [(1, CORE[2], "Gi1/0/1", CORE[1]), (2, ACCESS[2], "Gi1/0/1", ACCESS[1])],
                             spiking=True),
        ACCESS[0]: demo_switch(ACCESS[1], [(1, DIST[2], "Gi1/0/2", DIST[1])]),
    }


if __name__ == "__main__":
    for file, rows in build().items():
        write(file, rows)
