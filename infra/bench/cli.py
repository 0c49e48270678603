"""`opsledger bench …`: each benchmark prints its figures (see BENCHMARKS.md for what they mean and the runs)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from infra.logs import configure_logging

bench_app = typer.Typer(help="Benchmarks (print figures; see BENCHMARKS.md).", no_args_is_help=True)
QUICK = "a short run with small numbers: checks the bench works, measures nothing worth recording"


@bench_app.command("pipeline")
def bench_pipeline(events: Annotated[int, typer.Option(help="events for the throughput runs")] = 100_000,
                   quick: Annotated[bool, typer.Option("--quick", help=QUICK)] = False,
                   json_out: Annotated[bool, typer.Option("--json", help="print JSON only")] = False) -> None:
    """Raw produce ceiling, end-to-end throughput (and CPU per event of each process), freshness at 2,000 events/s,
    replay speed."""
    from infra.bench.pipeline import run_pipeline_bench

    configure_logging("WARNING")
    run_pipeline_bench(events=10_000 if quick else events, json_only=json_out, fresh_seconds=3.0 if quick else 10.0)


@bench_app.command("replay")
def bench_replay(events: Annotated[int, typer.Option(help="readings in the log (and their verdicts)")] = 100_000,
                 runs: Annotated[int, typer.Option(help="replays of the same log")] = 3,
                 workers: Annotated[int | None, typer.Option(help="the command's --workers (default: its own)")] = None,
                 quick: Annotated[bool, typer.Option("--quick", help=QUICK)] = False,
                 json_out: Annotated[bool, typer.Option("--json", help="print JSON only")] = False) -> None:
    """`opsledger replay ingress` alone on a filled log, several times: records/s and PostgreSQL's CPU."""
    from infra.bench.replay import run_replay_bench

    configure_logging("WARNING")
    run_replay_bench(events=5_000 if quick else events, runs=1 if quick else runs, json_only=json_out, workers=workers)


@bench_app.command("scans")
def bench_scans(cylinders: Annotated[int, typer.Option(help="cylinders, each scanned through one full cycle")] = 5000,
                quick: Annotated[bool, typer.Option("--quick", help=QUICK)] = False,
                json_out: Annotated[bool, typer.Option("--json", help="print JSON only")] = False) -> None:
    """Cylinder scans through the HTTP API to the read model: scans/s, and scan-to-visible latency at 200/s."""
    from infra.bench.scans import run_scans_bench

    configure_logging("WARNING")
    run_scans_bench(cylinders=500 if quick else cylinders, json_only=json_out, seconds=3.0 if quick else 10.0)


@bench_app.command("requests")
def bench_requests(components: Annotated[str, typer.Option(help="components running (comma-separated)")] = "api",
                   requests: Annotated[int, typer.Option(help="single-scan requests")] = 3000,
                   callers: Annotated[int, typer.Option(help="concurrent callers (closed loop)")] = 16,
                   quick: Annotated[bool, typer.Option("--quick", help=QUICK)] = False,
                   json_out: Annotated[bool, typer.Option("--json", help="print JSON only")] = False) -> None:
    """CPU per command request of each process (single-scan POST /api/scans, closed loop), and requests/s."""
    from infra.bench.requests import run_requests_bench

    configure_logging("WARNING")
    run_requests_bench([c.strip() for c in components.split(",") if c.strip()], 300 if quick else requests, callers,
                       json_out)


@bench_app.command("broker")
def bench_broker(seconds: Annotated[float, typer.Option(help="seconds per case")] = 8.0,
                 quick: Annotated[bool, typer.Option("--quick", help=QUICK)] = False,
                 json_out: Annotated[bool, typer.Option("--json", help="print JSON only")] = False) -> None:
    """The embedded broker's CPU answering one consumer's fetches of quiet partitions (by partitions and fetch
    wait), and its ListOffsets (what a quiet consumer's held fetches cost instead)."""
    from infra.bench.broker import run_broker_bench

    configure_logging("WARNING")
    run_broker_bench(1.0 if quick else seconds, json_out)


@bench_app.command("alerts")
def bench_alerts(rules: Annotated[int, typer.Option(help="generic rules loaded")] = 1000,
                 rate: Annotated[float, typer.Option(help="source events/s for the latency run")] = 1000.0,
                 seconds: Annotated[float, typer.Option(help="length of the latency run")] = 15.0,
                 events: Annotated[int, typer.Option(help="source events for the drained throughput run")] = 20_000,
                 quick: Annotated[bool, typer.Option("--quick", help=QUICK)] = False,
                 json_out: Annotated[bool, typer.Option("--json", help="print JSON only")] = False) -> None:
    """Source events to alerts in the read model with 1,000 rules: event_to_alert_p99_ms at 1,000/s, rules_eval_eps."""
    from infra.bench.alerts import run_alerts_bench

    configure_logging("WARNING")
    if quick:
        rules, events, seconds = min(rules, 100), 2000, 3.0
    run_alerts_bench(rules=rules, events=events, json_only=json_out, rate=rate, seconds=seconds)


@bench_app.command("images")
def bench_images(rate: Annotated[float, typer.Option(help="uploads/s for the latency run")] = 5.0,
                 seconds: Annotated[float, typer.Option(help="length of the latency run")] = 30.0,
                 count: Annotated[int, typer.Option(help="12 MP uploads for the burst run")] = 120,
                 pool_images: Annotated[int, typer.Option(help="images per size for the worker-pool run")] = 60,
                 json_out: Annotated[bool, typer.Option("--json", help="print JSON only")] = False) -> None:
    """Images analysed per second (12 MP and 0.3 MP JPEG; the worker pool alone and through the stack), CPU per
    image, upload -> analysed p99 at 5 uploads/s."""
    from infra.bench.images import run_images_bench

    configure_logging("WARNING")
    run_images_bench(json_only=json_out, rate=rate, seconds=seconds, count=count, pool_images=pool_images)


@bench_app.command("snmp")
def bench_snmp(devices: Annotated[int, typer.Option(help="simulated 48-port switches")] = 40,
               rounds: Annotated[int, typer.Option(help="timed rounds (after one warm-up round)")] = 5,
               agents: Annotated[int, typer.Option(help="snmpsim processes serving them")] = 2,
               max_concurrent: Annotated[int, typer.Option(help="polls in flight at once")] = 32,
               v3: Annotated[bool, typer.Option("--v3", help="SNMPv3 authPriv (SHA-256/AES-128)")] = False,
               pysnmp: Annotated[bool, typer.Option("--pysnmp", help="SNMPv2c through pysnmp, not the fast path")
                                 ] = False,
               quick: Annotated[bool, typer.Option("--quick", help=QUICK)] = False,
               json_out: Annotated[bool, typer.Option("--json", help="print JSON only")] = False) -> None:
    """Poller CPU per poll against snmpsim on loopback: devices_per_s_per_core and poll_p99_ms (needs dev extras)."""
    import json

    from infra.bench.snmp import bench_snmp as run

    configure_logging("WARNING")
    if quick:
        devices, rounds = min(devices, 8), min(rounds, 2)
    result = asyncio.run(run(devices=devices, rounds=rounds, agents=agents, max_concurrent=max_concurrent, v3=v3,
                             fast_v2c=not pysnmp))
    print(json.dumps(result, indent=None if json_out else 2), flush=True)


@bench_app.command("commands")
def bench_commands(rate: Annotated[float, typer.Option(help="commands/s for the latency run")] = 100.0,
                   seconds: Annotated[float, typer.Option(help="length of the latency run")] = 20.0,
                   burst: Annotated[int, typer.Option(help="commands for the back-to-back run")] = 2000,
                   clients: Annotated[int, typer.Option(help="callers in the back-to-back run")] = 8,
                   quick: Annotated[bool, typer.Option("--quick", help=QUICK)] = False,
                   json_out: Annotated[bool, typer.Option("--json", help="print JSON only")] = False) -> None:
    """POST /api/ingress through the real API: command latency p50/p99 at a steady rate, back-to-back commands/s."""
    from infra.bench.commands import run_commands_bench

    configure_logging("WARNING")
    if quick:
        seconds, burst = min(seconds, 5.0), min(burst, 300)
    run_commands_bench(json_only=json_out, rate=rate, seconds=seconds, burst=burst, clients=clients)


@bench_app.command("analytics")
def bench_analytics(points: Annotated[float, typer.Option(help="points/s offered (3,200: 1,000 switches x 48 ports x 4"
                                                               " series, polled each minute)")] = 3200.0,
                    seconds: Annotated[float, typer.Option(help="how long to offer them")] = 60.0,
                    quick: Annotated[bool, typer.Option("--quick", help=QUICK)] = False,
                    json_out: Annotated[bool, typer.Option("--json", help="print JSON only")] = False) -> None:
    """Interface rates through the real processors and projections: lag while points are offered at a fixed rate,
    CPU per point of each process, and the bytes each analytics level stores per interface per day."""
    from infra.bench.analytics import run_analytics_bench

    configure_logging("WARNING")
    run_analytics_bench(json_only=json_out, points_per_s=points, seconds=10.0 if quick else seconds)


@bench_app.command("bandwidth-query")
def bench_bandwidth_query(interfaces: Annotated[int, typer.Option(help="interfaces stored (four series each)")] = 1000,
                          days: Annotated[int, typer.Option(help="days of 1-minute rollups stored and read")] = 30,
                          repeats: Annotated[int, typer.Option(help="warm reads")] = 30,
                          root: Annotated[Path | None, typer.Option(help="a directory an earlier run filled (its"
                                                                         " path is in the report): read again")] = None,
                          quick: Annotated[bool, typer.Option("--quick", help=QUICK)] = False,
                          json_out: Annotated[bool, typer.Option("--json", help="print JSON only")] = False) -> None:
    """One interface's 1-minute bandwidth over the whole stored range, read the API's way while `interfaces`
    interfaces are stored: cold and warm read times, PostgreSQL's execution time and pages, bytes stored."""
    import json

    from infra.bench.bandwidth_query import run_bandwidth_query_bench

    configure_logging("WARNING")
    result = run_bandwidth_query_bench(interfaces=50 if quick else interfaces, days=2 if quick else days,
                                       repeats=5 if quick else repeats, root=root)
    print(json.dumps(result, indent=None if json_out else 2), flush=True)


@bench_app.command("idle")
def bench_idle(seconds: Annotated[float, typer.Option(help="how long to measure")] = 60.0,
               live_demo: Annotated[bool, typer.Option(help="with the living demo moving (its pollers, camera and"
                                                            " scanners are traffic)")] = False,
               quick: Annotated[bool, typer.Option("--quick", help=QUICK)] = False,
               json_out: Annotated[bool, typer.Option("--json", help="print JSON only")] = False) -> None:
    """An idle `opsledger up` (demo loaded, no traffic): CPU of every process, in % of one core."""
    from infra.bench.idle import run_idle_bench

    configure_logging("WARNING")
    run_idle_bench(json_only=json_out, seconds=5.0 if quick else seconds, settle_s=5.0 if quick else 20.0,
                   live_demo=live_demo)


@bench_app.command("alert-timer")
def bench_alert_timer(alerts: Annotated[int, typer.Option(help="firing alerts held, none due")] = 100_000,
                      quick: Annotated[bool, typer.Option("--quick", help=QUICK)] = False,
                      json_out: Annotated[bool, typer.Option("--json", help="print JSON only")] = False) -> None:
    """The alert timer's pass over many firing alerts: the due-time heap, and full looks after a rebalance or a rule
    change."""
    import json

    from infra.bench.alert_timer import run_alert_timer_bench

    result = run_alert_timer_bench(1_000 if quick else alerts)
    print(json.dumps(result, indent=None if json_out else 2), flush=True)


@bench_app.command("anomaly")
def bench_anomaly(seed: Annotated[int, typer.Option(help="the labelled set's seed (20240601 reports)")] = 20240601,
                  five_min_series: Annotated[int, typer.Option(help="series at 5-minute steps, 5 weeks")] = 30,
                  one_min_series: Annotated[int, typer.Option(help="series at 1-minute steps, 3 weeks")] = 6,
                  json_out: Annotated[bool, typer.Option("--json", help="print JSON only")] = False) -> None:
    """Detector quality on the labelled set (event-level precision, recall, F1, median delay) and points/s/core."""
    import json

    from infra.bench.anomaly import run_anomaly_bench

    result = run_anomaly_bench(seed, five_min_series, one_min_series)
    print(json.dumps(result, indent=None if json_out else 2), flush=True)
