"""Replay equality: a projection rebuilt from the log equals the live one row for row, and the live one keeps
serving during the rebuild and keeps applying new events after the swap. Ingress is partition-local, so it is
rebuilt by two worker processes at once, each with half the partitions."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time

import httpx
import psycopg

from infra.producer import EventProducer
from tests.helpers.factories import reading
from tests.helpers.support import ROOT, Stack, lags, wait_until
from tests.integration.platform.drill_events import drill_rounds

TABLES = {
    "ingress_readings": "SELECT * FROM ingress_readings ORDER BY id",
    "ingress_reading_history": "SELECT * FROM ingress_reading_history ORDER BY event_id",
    "ingress_limit_exceeded": "SELECT * FROM ingress_limit_exceeded ORDER BY reading_id, version",
}


def snapshot(database_url: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(database_url) as conn:
        return {name: conn.execute(query).fetchall() for name, query in TABLES.items()}  # type: ignore[arg-type]


def indexes(database_url: str) -> list[tuple[str, str]]:
    """Every index of the ingress tables with its definition (the rebuild loads without the secondary ones)."""
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s)"
                            " ORDER BY indexname", (list(TABLES),)).fetchall()


async def produce_history(bootstrap: str) -> None:
    rounds, _, _ = drill_rounds(readings=1500, seed=23)
    producer = EventProducer(bootstrap)
    await producer.start()
    try:
        for events in rounds:
            await producer.emit_many(events)
    finally:
        await producer.stop()


def settled(api: httpx.Client) -> bool:
    """The projection applied everything and the processor has stopped adding verdicts (counts still for 1 s)."""
    def records() -> list[str]:
        return [line for line in api.get("/metrics").text.splitlines() if line.startswith("opsledger_topic_records")]

    first = records()
    time.sleep(1.0)
    lag = lags(api)
    return lag.get("processors") == 0 and lag.get("ingress") == 0 and records() == first


def test_rebuilt_projection_equals_live_row_for_row(stack: Stack, api: httpx.Client) -> None:
    asyncio.run(produce_history(stack.backbone.bootstrap))
    wait_until(lambda: settled(api), timeout=60, what="the processor and projection to settle")
    before = snapshot(stack.backbone.database_url)
    indexes_before = indexes(stack.backbone.database_url)
    assert len(before["ingress_readings"]) >= 1500

    reads_during_replay: list[int] = []
    stop = threading.Event()

    def keep_reading() -> None:
        with stack.client() as client:
            while not stop.is_set():
                reads_during_replay.append(client.get("/api/ingress", params={"limit": 5}).status_code)

    reader = threading.Thread(target=keep_reading)
    reader.start()
    try:
        done = subprocess.run([sys.executable, "-m", "infra.entry.cli", "replay", "ingress", "--workers", "2"],
                              env=stack.env(), cwd=ROOT, capture_output=True, text=True, timeout=300)  # in parallel
    finally:
        stop.set()
        reader.join()
    assert done.returncode == 0, done.stderr[-3000:]
    assert "swapped in" in done.stderr
    assert reads_during_replay and set(reads_during_replay) == {200}

    after = snapshot(stack.backbone.database_url)
    for table in TABLES:
        assert after[table] == before[table], f"{table} differs after the rebuild"
    assert indexes(stack.backbone.database_url) == indexes_before  # the same indexes, under the same names

    created = api.post("/api/ingress", params={"wait": "true"}, json=reading().model_dump(mode="json"))
    assert created.status_code == 201, created.text  # the live projection continues on the swapped tables
