"""Replay equality of the analytics read models: rebuilt from the log, every table (raw points with verdicts, the
three rollup levels, series, refusals, anomalies, submissions) equals the live one row for row."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
from psycopg import sql

from tests.helpers.series import history, send
from tests.helpers.support import ROOT, Stack, lags, wait_until

TABLES = ("metric_series", "metric_points", "metric_rollups_1m", "metric_rollups_5m", "metric_rollups_1h",
          "metric_refusals", "metric_anomalies", "capacity_forecasts", "metric_submissions")


def snapshot(database_url: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(database_url) as conn:
        return {table: conn.execute(sql.SQL("SELECT * FROM {} ORDER BY 1, 2").format(sql.Identifier(table))).fetchall()
                for table in TABLES}


def settled(api: httpx.Client) -> bool:
    lag = lags(api)
    return lag.get("processors") == 0 and lag.get("analytics") == 0


def test_rebuilt_analytics_equal_the_live_ones_row_for_row(stack: Stack, api: httpx.Client) -> None:
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    for n in range(2):
        series = f"ml/test/replay-{n}-{uuid.uuid4().hex[:8]}"
        points = history(end)
        send(api, series, points)
        # a point far later than the grace, and a time the series already has: counted, not folded
        send(api, series, [{"t": points[10]["t"], "value": 1.0}, {"t": points[-1]["t"], "value": 2.0}])
    wait_until(lambda: settled(api), timeout=60, what="the processor and the analytics projection to settle")

    before = snapshot(stack.backbone.database_url)
    for table in ("metric_points", "metric_rollups_1m", "metric_rollups_5m", "metric_rollups_1h", "metric_refusals",
                  "metric_anomalies"):
        assert before[table], f"{table} is empty: the test would prove nothing about it"
    done = subprocess.run([sys.executable, "-m", "infra.entry.cli", "replay", "analytics"], env=stack.env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "swapped in" in done.stderr
    after = snapshot(stack.backbone.database_url)
    for table in TABLES:
        assert after[table] == before[table], f"{table} differs after the rebuild"
