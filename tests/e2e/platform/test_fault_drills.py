"""Fault drills on a fresh `opsledger up` stack while readings are posted (issue 16): a 202 is a promise.

- power loss: every process of the stack SIGKILLed at once, then `opsledger up` again — three times;
- the broker SIGKILLed: the stack heals by itself;
- PostgreSQL SIGKILLed: the stack heals by itself;
and after each, Ctrl-C stops everything the stack started.

After each drill: every reading the API acknowledged (202) is in the event history, once; every reading above its
limit line has its verdict; and the ingress read models equal a rebuild from the log (`opsledger replay`).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from infra.entry.embedded import free_port
from tests.helpers.factories import reading_body
from tests.helpers.support import ROOT, lags, wait_until
from tests.helpers.up import (
    alive,
    everything,
    kill,
    named,
    postgres_pids,
    reap,
    settled,
    signed_in,
    stack_pids,
    start_up,
    stop_up,
)

TABLES = {
    "ingress_readings": "SELECT * FROM ingress_readings ORDER BY id",
    "ingress_reading_history": "SELECT * FROM ingress_reading_history ORDER BY event_id",
    "ingress_limit_exceeded": "SELECT * FROM ingress_limit_exceeded ORDER BY reading_id, version",
}
HEALS_WITHIN_S = 30.0
ANSWERS_WITHIN_S = 2.0


@dataclass
class Writer:
    """Posts readings at about `rate` per second; remembers what was acknowledged and how each answer went."""

    url: str
    token: str
    rate: float = 60.0
    acknowledged: dict[str, float] = field(default_factory=dict)  # event id -> level
    answers: list[tuple[int, float]] = field(default_factory=list)  # (status, seconds)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        rng = random.Random(16)
        with httpx.Client(base_url=self.url, timeout=10, headers={"Authorization": f"Bearer {self.token}"}) as api:
            while not self.stop.is_set():
                level = rng.choice((-40.0, 3.5))  # half of them exceed the 15-42 MHz limit line (-20 dBmV)
                started = time.monotonic()
                try:
                    answer = api.post("/api/ingress", json=reading_body(level_dbmv=level))
                    self.answers.append((answer.status_code, time.monotonic() - started))
                    if answer.status_code == 202:
                        self.acknowledged[answer.json()["event_id"]] = level
                except httpx.HTTPError:
                    self.answers.append((0, time.monotonic() - started))  # the API itself was down (power loss)
                time.sleep(max(0.0, 1 / self.rate - (time.monotonic() - started)))

    def __enter__(self) -> Writer:
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(30)


def token_of(api: httpx.Client) -> str:
    return str(api.headers["Authorization"]).removeprefix("Bearer ")


def database_url(data_dir: Path) -> str:
    from infra.entry.embedded import start_database

    return start_database(data_dir / "pg", keep_running=True).url  # a handle on the running server


def topic_lags(data_dir: Path) -> dict[str, int]:
    """The processors' uncommitted records per input topic (to say which one does not settle)."""
    import asyncio

    from infra.entry.components import read_stack_file
    from infra.kafka import group_lag
    from infra.topics import PROCESSOR_INPUTS

    running = read_stack_file(data_dir) or {}
    bootstrap = running.get("kafka_bootstrap_servers", "")
    found = {topic: asyncio.run(group_lag(bootstrap, "opsledger-processors", [topic])) for topic in PROCESSOR_INPUTS}
    return {topic: lag for topic, lag in found.items() if lag}


def check_promises(api: httpx.Client, writer: Writer, data_dir: Path) -> None:
    """Nothing acknowledged is lost, each event shows once, the read models equal a rebuild, each verdict came."""
    try:
        wait_until(lambda: settled(api), timeout=90, what="the stack to settle")
    except AssertionError as e:
        raise AssertionError(f"{e}; lags: {lags(api)}; processor lag by topic: {topic_lags(data_dir)}") from e
    events = everything(api)["events"]
    ids = [e[3] for e in events if e[3] is not None]  # Faust's changelog records carry no event id
    assert len(ids) == len(set(ids)), "an event is shown twice"
    missing = set(writer.acknowledged) - set(ids)
    assert not missing, f"{len(missing)} of {len(writer.acknowledged)} acknowledged readings lost"
    url = database_url(data_dir)
    before = snapshot(url)
    replayed = subprocess.run([sys.executable, "-m", "infra.entry.cli", "replay", "ingress"], cwd=ROOT,
                              env={"OPSLEDGER_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"},
                              capture_output=True, text=True, timeout=300)
    assert replayed.returncode == 0, replayed.stderr[-3000:]
    after = snapshot(url)
    assert after == before, f"the read models differ from a rebuild from the log: {differences(before, after)}"
    with psycopg.connect(url) as conn:
        judged = {str(r[0]) for r in conn.execute(
            "SELECT h.event_id FROM ingress_reading_history h JOIN ingress_limit_exceeded e"
            " ON e.reading_id = h.reading_id AND e.version = h.version WHERE h.type = 'IngressReadingSubmitted'")}
    over = {event_id for event_id, level in writer.acknowledged.items() if level > -20}
    unjudged = over - judged
    assert not unjudged, f"{len(unjudged)} readings above their limit have no verdict"


def differences(before: dict[str, list[tuple[object, ...]]], after: dict[str, list[tuple[object, ...]]]) -> str:
    """Per table: rows only in the live read model and rows only in the rebuild (a few of each)."""
    said = []
    for name in TABLES:
        live, rebuilt = {repr(row) for row in before[name]}, {repr(row) for row in after[name]}
        if live != rebuilt:
            said.append(f"{name}: {len(before[name])} live, {len(after[name])} rebuilt;"
                        f" only live {sorted(live - rebuilt)[:3]}; only rebuilt {sorted(rebuilt - live)[:3]}")
    return "; ".join(said) or "same rows, different order"


def snapshot(url: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(url) as conn:
        return {name: conn.execute(query).fetchall() for name, query in TABLES.items()}  # type: ignore[arg-type]


def stopped_cleanly(proc: subprocess.Popen[bytes], data_dir: Path) -> None:
    """Ctrl-C stops everything it started: the processes under it and the embedded PostgreSQL."""
    started = stack_pids(proc, data_dir)
    stop_up(proc)
    wait_until(lambda: not any(alive(pid) for pid in started) and not postgres_pids(data_dir), timeout=30,
               what="every process of the stack to be gone")


def test_power_loss_three_times_loses_no_acknowledged_event(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    writer: Writer | None = None
    for round_ in range(3):
        proc = start_up(data_dir, port)
        with signed_in(port) as api:
            if writer is None:
                writer = Writer(f"http://127.0.0.1:{port}", token_of(api))
            with Writer(f"http://127.0.0.1:{port}", token_of(api), acknowledged=writer.acknowledged) as during:
                time.sleep(random.Random(round_).uniform(2.0, 6.0))
                kill(stack_pids(proc, data_dir))  # the power goes
            reap(proc)
        assert during.acknowledged, "the writer got no 202 before the power went"
    proc = start_up(data_dir, port)
    try:
        with signed_in(port) as api:
            assert writer is not None
            check_promises(api, writer, data_dir)
    finally:
        stopped_cleanly(proc, data_dir)


def complaint_lines(data_dir: Path) -> list[str]:
    """Lines of the component logs that are not routine (anything but structlog's info and debug lines), each named
    by its component and event (or its first words when it is not structlog's JSON)."""
    found = []
    for path in sorted((data_dir / "logs").glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if '"level": "info"' in line or '"level": "debug"' in line:
                continue
            try:
                event = json.loads(line).get("event", "")
            except (ValueError, AttributeError):
                event = line[:80]
            found.append(f"{path.stem}: {event}")
    return found


def complaints(data_dir: Path) -> int:
    return len(complaint_lines(data_dir))


def heals(proc: subprocess.Popen[bytes], data_dir: Path, port: int, victim: str) -> None:
    with signed_in(port) as api:
        with Writer(f"http://127.0.0.1:{port}", token_of(api)) as writer:
            time.sleep(2.0)
            complained_before = Counter(complaint_lines(data_dir))
            pids = stack_pids(proc, data_dir)
            targets = postgres_pids(data_dir) if victim == "postgres" else named(pids, "tansu")
            assert targets, f"no {victim} process found"
            killed_at = time.monotonic()
            kill(targets)
            time.sleep(3.0)
            wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200,
                       timeout=HEALS_WITHIN_S, what=f"the stack to heal after losing {victim}")
            healed_after = time.monotonic() - killed_at
            time.sleep(2.0)
        slow = [(status, round(s, 2)) for status, s in writer.answers if s > ANSWERS_WITHIN_S]
        assert not slow, f"commands answered slowly while {victim} was down: {slow[:10]}"
        assert {status for status, _ in writer.answers} <= {202, 503}, writer.answers
        assert healed_after < HEALS_WITHIN_S
        # every consumer and client complains while the dependency is away: once per 10 s per kind of complaint
        # (before, a broker outage wrote ~390 lines a second)
        new_complaints = Counter(complaint_lines(data_dir)) - complained_before
        complained = sum(new_complaints.values())
        loudest = new_complaints.most_common(5)
        assert complained < 15 * (healed_after + 5), (
            f"{complained} warning lines in {healed_after:.0f} s; the loudest: {loudest}")
        check_promises(api, writer, data_dir)


def test_the_stack_heals_after_the_broker_is_killed(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    proc = start_up(data_dir, port)
    try:
        heals(proc, data_dir, port, "tansu")
    finally:
        stopped_cleanly(proc, data_dir)


def test_the_stack_heals_after_postgres_is_killed(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    proc = start_up(data_dir, port)
    try:
        heals(proc, data_dir, port, "postgres")
    finally:
        stopped_cleanly(proc, data_dir)
