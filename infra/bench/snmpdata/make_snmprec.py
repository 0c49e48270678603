"""Writes the simulated agents' .snmprec files (run: python infra/bench/snmpdata/make_snmprec.py).

Counters use snmpsim's `numeric` variation module: value = initial + rate * seconds since snmpsim started, so the
tests know each interface's true rate. sysUpTime is numeric too (rate 100 ticks/s), on the same clock.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
SYSTEM = "1.3.6.1.2.1.1"
IF_ENTRY = "1.3.6.1.2.1.2.2.1"
IFX_ENTRY = "1.3.6.1.2.1.31.1.1.1"
LLDP_LOC_PORT_ID = "1.0.8802.1.1.2.1.3.7.1.3"
LLDP_REM_ENTRY = "1.0.8802.1.1.2.1.4.1.1"

# LLDP neighbours: two switches naming each other (a link confirmed from both ends) and one naming a phone nobody
# registered. Chassis ids are MAC addresses (binary, chassisIdSubtype macAddress), except the phone's.
LLDP_A = ("lldp-core-a", "00:1a:2b:3c:4d:01")
LLDP_B = ("lldp-dist-b", "00:1a:2b:3c:4d:02")
LLDP_C = ("lldp-access-c", "00:1a:2b:3c:4d:03")
LLDP_PHONE = ("ip-phone-17", "SEP0017")

SWITCH_PORTS = 48
SWITCH_SPEED_MBPS = 1000
FASTWRAP_OCTETS_PER_S = 1_000_000_000  # a 32-bit counter at 8 Gb/s wraps every 4.29 s
FASTWRAP_SPEED_MBPS = 10_000
REBOOT_PERIOD_S = 6  # the "rebooting" agent's sysUpTime and counters restart every 6 s
WINXP_WLAN = 65539  # the recorded Windows XP host's wireless interface (ifIndex 65539, 54 Mb/s)
WINXP_WLAN_IN_OCTETS_PER_S = 250_000  # 2 Mb/s in, 1 Mb/s out, in the copy without sysUpTime
WINXP_WLAN_OUT_OCTETS_PER_S = 125_000


def switch_in_octets_per_s(port: int) -> int:
    return port * 1_000_000  # 8 * port Mb/s


def switch_out_octets_per_s(port: int) -> int:
    return port * 500_000


def switch_errors_per_s(port: int) -> int:
    return 100 + port


def _numeric(tag: int, rate: float, initial: int = 0, extra: str = "") -> tuple[str, str]:
    return f"{tag}:numeric", f"rate={rate},initial={initial}{extra}"


def _system(name: str, descr: str, uptime: tuple[str, str] | None = None) -> list[tuple[str, str, str]]:
    tag, value = uptime or _numeric(67, 100, 1_000_000)
    return [
        (f"{SYSTEM}.1.0", "4", descr),
        (f"{SYSTEM}.2.0", "6", "1.3.6.1.4.1.9.1.2694"),
        (f"{SYSTEM}.3.0", tag, value),
        (f"{SYSTEM}.5.0", "4", name),
    ]


def _if_row(port: int, *, up: bool, speed_mbps: int, in_oct: tuple[str, str], out_oct: tuple[str, str],
            errors: tuple[str, str], hc: tuple[tuple[str, str], tuple[str, str]] | None,
            ifx: bool = True) -> list[tuple[str, str, str]]:
    oper = "1" if up else "2"
    rows = [
        (f"{IF_ENTRY}.1.{port}", "2", str(port)),
        (f"{IF_ENTRY}.2.{port}", "4", f"GigabitEthernet1/0/{port}"),
        (f"{IF_ENTRY}.3.{port}", "2", "6"),
        (f"{IF_ENTRY}.5.{port}", "66", str(min(speed_mbps * 1_000_000, 4_294_967_295))),
        (f"{IF_ENTRY}.7.{port}", "2", "1" if port % 12 else "2"),
        (f"{IF_ENTRY}.8.{port}", "2", oper),
        (f"{IF_ENTRY}.10.{port}", *in_oct),
        (f"{IF_ENTRY}.13.{port}", *errors),
        (f"{IF_ENTRY}.14.{port}", *errors),
        (f"{IF_ENTRY}.16.{port}", *out_oct),
        (f"{IF_ENTRY}.19.{port}", *errors),
        (f"{IF_ENTRY}.20.{port}", *errors),
    ]
    if ifx:
        rows += [
            (f"{IFX_ENTRY}.1.{port}", "4", f"Gi1/0/{port}"),
            (f"{IFX_ENTRY}.15.{port}", "66", str(speed_mbps)),
            (f"{IFX_ENTRY}.18.{port}", "4", f"uplink-{port}" if port <= 2 else ""),
        ]
    if hc:
        rows += [(f"{IFX_ENTRY}.6.{port}", *hc[0]), (f"{IFX_ENTRY}.10.{port}", *hc[1])]
    return rows


def switch48() -> list[tuple[str, str, str]]:
    rows = _system("sw-core-48", "Simulated 48-port switch, IOS 15.2")
    for port in range(1, SWITCH_PORTS + 1):
        up = port % 12 != 0  # ports 12, 24, 36, 48 are down (admin down too)
        in_rate = switch_in_octets_per_s(port) if up else 0
        out_rate = switch_out_octets_per_s(port) if up else 0
        err_rate = switch_errors_per_s(port) if up else 0
        rows += _if_row(port, up=up, speed_mbps=SWITCH_SPEED_MBPS,
                        in_oct=_numeric(65, in_rate, extra=",wrap=1"), out_oct=_numeric(65, out_rate, extra=",wrap=1"),
                        errors=_numeric(65, err_rate, extra=",wrap=1"),
                        hc=(_numeric(70, in_rate, 10**12), _numeric(70, out_rate, 10**12)))
    return rows


def legacy32() -> list[tuple[str, str, str]]:
    """An old agent: no ifXTable at all, 32-bit counters only."""
    rows = _system("legacy-router", "Simulated legacy router, 32-bit counters")
    for port in range(1, 9):
        rows += _if_row(port, up=True, speed_mbps=100, in_oct=_numeric(65, port * 100_000, extra=",wrap=1"),
                        out_oct=_numeric(65, port * 50_000, extra=",wrap=1"), errors=("65", "0"), hc=None,
                        ifx=False)
    return rows


def fastwrap32() -> list[tuple[str, str, str]]:
    """HC columns answered but always zero (garbage): the poller must fall back to 32-bit, which wraps every 4.3 s."""
    rows = _system("edge-10g", "Simulated 10G edge box with broken HC counters")
    for port in range(1, 3):
        rows += _if_row(port, up=True, speed_mbps=FASTWRAP_SPEED_MBPS,
                        in_oct=_numeric(65, FASTWRAP_OCTETS_PER_S, extra=",wrap=1"),
                        out_oct=_numeric(65, FASTWRAP_OCTETS_PER_S // 2, extra=",wrap=1"),
                        errors=("65", "0"), hc=(("70", "0"), ("70", "0")))
    return rows


def reboots() -> list[tuple[str, str, str]]:
    """sysUpTime and the counters restart every REBOOT_PERIOD_S seconds: fmod(rate * t, rate * period)."""
    def sawtooth(tag: int, rate: int) -> tuple[str, str]:
        return f"{tag}:numeric", f"rate={rate},function=fmod%<time>%{rate * REBOOT_PERIOD_S}"

    rows = _system("flaky-access", "Simulated access switch that keeps rebooting", uptime=sawtooth(67, 100))
    for port in range(1, 5):
        rows += _if_row(port, up=True, speed_mbps=1000, in_oct=sawtooth(65, 1_000_000),
                        out_oct=sawtooth(65, 1_000_000), errors=("65", "0"),
                        hc=(sawtooth(70, 1_000_000), sawtooth(70, 1_000_000)))
    return rows


def slow48() -> list[tuple[str, str, str]]:
    """The 48-port switch, but every ifAlias takes 100 ms to read (snmpsim's `delay` module)."""
    rows = []
    for oid, tag, value in switch48():
        if oid.startswith(f"{IFX_ENTRY}.18."):
            tag, value = "4:delay", f"value={value},wait=100"
        rows.append((oid, tag, value))
    return rows


def _lldp(local_ports: int, neighbours: list[tuple[int, str, str, str]]) -> list[tuple[str, str, str]]:
    """lldpLocPortId for ports 1..local_ports, and one lldpRemTable row (timeMark 0, remIndex 1) per
    (local port number, chassis id, remote port id, remote sysName); a chassis id with colons is sent as binary."""
    rows = [(f"{LLDP_LOC_PORT_ID}.{port}", "4", f"Gi1/0/{port}") for port in range(1, local_ports + 1)]
    for port, chassis, remote_port, sys_name in neighbours:
        index = f"0.{port}.1"
        chassis_row = ("4x", chassis.replace(":", "")) if ":" in chassis else ("4", chassis)
        rows += [(f"{LLDP_REM_ENTRY}.5.{index}", *chassis_row), (f"{LLDP_REM_ENTRY}.7.{index}", "4", remote_port),
                 (f"{LLDP_REM_ENTRY}.9.{index}", "4", sys_name)]
    return rows


def _lldp_switch(name: str, neighbours: list[tuple[int, str, str, str]]) -> list[tuple[str, str, str]]:
    rows = _system(name, f"Simulated LLDP switch {name}")
    for port in range(1, 3):
        rows += _if_row(port, up=True, speed_mbps=1000, in_oct=_numeric(65, 1000, extra=",wrap=1"),
                        out_oct=_numeric(65, 1000, extra=",wrap=1"), errors=("65", "0"),
                        hc=(_numeric(70, 1000), _numeric(70, 1000)))
    return rows + _lldp(2, neighbours)


def lldp_a() -> list[tuple[str, str, str]]:
    """Port Gi1/0/1 sees lldp-dist-b's Gi1/0/2."""
    return _lldp_switch(LLDP_A[0], [(1, LLDP_B[1], "Gi1/0/2", LLDP_B[0])])


def lldp_b() -> list[tuple[str, str, str]]:
    """Port Gi1/0/2 sees lldp-core-a's Gi1/0/1: the same link from the other end."""
    return _lldp_switch(LLDP_B[0], [(2, LLDP_A[1], "Gi1/0/1", LLDP_A[0])])


def lldp_c() -> list[tuple[str, str, str]]:
    """Port Gi1/0/1 sees an IP phone that is not registered."""
    return _lldp_switch(LLDP_C[0], [(1, LLDP_PHONE[1], "eth0", LLDP_PHONE[0])])


def winxp_no_uptime() -> list[tuple[str, str, str]]:
    """The recording of a real Windows XP host (winxp.snmprec, README.md) without sysUpTime, its wireless
    interface's octets made live (from the recorded values, at known rates): an agent that answers but omits
    sysUpTime, whose rates must be timed by the poller's clock."""
    rows = []
    for line in (HERE / "winxp.snmprec").read_text().splitlines():
        oid, tag, value = line.split("|", 2)
        if oid == f"{SYSTEM}.3.0":
            continue
        for column, rate in ((10, WINXP_WLAN_IN_OCTETS_PER_S), (16, WINXP_WLAN_OUT_OCTETS_PER_S)):
            if oid == f"{IF_ENTRY}.{column}.{WINXP_WLAN}":
                tag, value = _numeric(65, rate, int(value), extra=",wrap=1")
        rows.append((oid, tag, value))
    return rows


def _oid_key(row: tuple[str, str, str]) -> tuple[int, ...]:
    return tuple(int(part) for part in row[0].split("."))


def write(name: str, rows: list[tuple[str, str, str]]) -> None:
    text = "".join(f"{oid}|{tag}|{value}\n" for oid, tag, value in sorted(rows, key=_oid_key))
    (HERE / f"{name}.snmprec").write_text(text)


if __name__ == "__main__":
    for builder in (switch48, legacy32, fastwrap32, reboots, slow48, lldp_a, lldp_b, lldp_c, winxp_no_uptime):
        write(builder.__name__, builder())
