"""Analytics read models: raw points with their verdicts, the 1 min / 5 min / 1 h rollups (each time-partitioned,
kept per OPSLEDGER_RETENTION_*), what each series' detector has seen, refused points, anomalies, the latest capacity
forecast per interface, and submitted batches awaiting their verdict.

Idempotent: points and buckets are keyed by (series, time) and the first stays (ON CONFLICT DO NOTHING); anomalies
by event id; counters and series stats keep the largest (they are totals); a forecast replaces an older one only.
Rows a level no longer keeps (older than its retention) are not written, so a backfill of old ML data does not make
partitions only for retention to drop them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import psycopg
from psycopg import sql

from infra.settings import RetentionSettings, get_settings
from projections.analytics.levels import ROLLUP_TABLES, Level, levels
from projections.analytics.rows import Rows
from projections.partitions import ensure, name_of
from projections.records import Record, Tables
from projections.staging import columns, copy_into_stage
from schemas.envelope import utc_now
from schemas.topics import ANALYTICS_ANOMALIES, ANALYTICS_POINTS, ANALYTICS_ROLLUPS, ANALYTICS_SCORES

POINT_COLUMNS = ("series_id", "t", "value", "score", "expected", "lower", "upper", "anomaly")
BUCKET_COLUMNS = ("series_id", "t", "count", "min", "max", "sum", "p95")
MERGE = sql.SQL("INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} ON CONFLICT DO NOTHING")
SERIES = sql.SQL(
    "INSERT INTO {t} AS s (series_id, series, points, warm, first_t, last_t, updated_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (series_id) DO UPDATE SET"
    " points = GREATEST(s.points, EXCLUDED.points), warm = s.warm OR EXCLUDED.warm,"
    " first_t = LEAST(s.first_t, EXCLUDED.first_t), last_t = GREATEST(s.last_t, EXCLUDED.last_t),"
    " updated_at = GREATEST(s.updated_at, EXCLUDED.updated_at)")
REFUSALS = sql.SQL(
    "INSERT INTO {t} AS r (series_id, late, duplicates, updated_at) VALUES (%s, %s, %s, %s)"
    " ON CONFLICT (series_id) DO UPDATE SET late = GREATEST(r.late, EXCLUDED.late),"
    " duplicates = GREATEST(r.duplicates, EXCLUDED.duplicates),"
    " updated_at = GREATEST(r.updated_at, EXCLUDED.updated_at)")
ANOMALY = sql.SQL(
    "INSERT INTO {t} (event_id, series_id, series, type, at, score, value, expected, lower, upper, reason)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING")
FORECAST = sql.SQL(
    "INSERT INTO {t} AS f (series_id, series, device_id, if_index, at, threshold, current, slope_per_day, season,"
    " hours_until, hours_until_pessimistic, history_hours, points, request_id, event_id)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (series_id) DO UPDATE SET"
    " at = EXCLUDED.at, threshold = EXCLUDED.threshold, current = EXCLUDED.current,"
    " slope_per_day = EXCLUDED.slope_per_day, season = EXCLUDED.season, hours_until = EXCLUDED.hours_until,"
    " hours_until_pessimistic = EXCLUDED.hours_until_pessimistic, history_hours = EXCLUDED.history_hours,"
    " points = EXCLUDED.points, request_id = EXCLUDED.request_id, event_id = EXCLUDED.event_id"
    " WHERE f.at < EXCLUDED.at OR (f.at = EXCLUDED.at AND f.event_id < EXCLUDED.event_id)")
SUBMITTED = sql.SQL(
    "INSERT INTO {t} (event_id, series_id, points, src_partition, src_offset, submitted_at)"
    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO UPDATE SET series_id = EXCLUDED.series_id,"
    " points = EXCLUDED.points, src_partition = EXCLUDED.src_partition, src_offset = EXCLUDED.src_offset,"
    " submitted_at = EXCLUDED.submitted_at")
VERDICT = sql.SQL("INSERT INTO {t} (event_id, scored) VALUES (%s, true) ON CONFLICT (event_id) DO UPDATE SET"
                  " scored = true")


class AnalyticsProjection:
    name = "analytics"
    topics = (ANALYTICS_POINTS, ANALYTICS_SCORES, ANALYTICS_ROLLUPS, ANALYTICS_ANOMALIES)
    tables = ("metric_series", "metric_points", "metric_rollups_1m", "metric_rollups_5m", "metric_rollups_1h",
              "metric_refusals", "metric_anomalies", "capacity_forecasts", "metric_submissions")
    decode = True

    def __init__(self, policy: RetentionSettings | None = None, clock: Callable[[], datetime] = utc_now) -> None:
        self.levels = {level.table: level for level in levels(policy or get_settings().retention)}
        self.clock = clock

    async def apply(self, conn: psycopg.AsyncConnection, records: Sequence[Record], tables: Tables) -> None:
        rows = Rows()
        for record in records:
            rows.add(record)
        now = self.clock()
        async with conn.cursor() as cur:
            await self._stage(conn, cur, tables, self.levels["metric_points"], rows.points, POINT_COLUMNS, now)
            for width, table in ROLLUP_TABLES.items():
                await self._stage(conn, cur, tables, self.levels[table], rows.buckets[width], BUCKET_COLUMNS, now)
            await self._many(cur, SERIES, tables["metric_series"], [
                (k, s.series, s.points, s.warm, s.first_t, s.last_t, s.updated_at) for k, s in rows.series.items()])
            await self._many(cur, REFUSALS, tables["metric_refusals"], [(k, *v) for k, v in rows.refusals.items()])
            await self._many(cur, ANOMALY, tables["metric_anomalies"], rows.anomalies)
            await self._many(cur, FORECAST, tables["capacity_forecasts"], rows.forecasts)
            await self._many(cur, SUBMITTED, tables["metric_submissions"], rows.submissions)
            await self._many(cur, VERDICT, tables["metric_submissions"], [(v,) for v in rows.verdicts])

    async def _stage(self, conn: psycopg.AsyncConnection, cur: psycopg.AsyncCursor[tuple[object, ...]],
                     tables: Tables, level: Level, rows: list[tuple[object, ...]], names: Sequence[str],
                     now: datetime) -> None:
        kept = [r for r in rows if level.holds(r[1], now)]  # type: ignore[arg-type]
        if not kept:
            return
        table = tables[level.table]
        await ensure(conn, name_of(table), level.layout, {r[1] for r in kept})  # type: ignore[misc]
        stage = f"{level.table}_stage"
        await copy_into_stage(cur, stage, table, names, kept)
        await cur.execute(MERGE.format(table=table, cols=columns(names), stage=sql.Identifier(stage)))

    @staticmethod
    async def _many(cur: psycopg.AsyncCursor[tuple[object, ...]], query: sql.SQL, table: sql.Identifier,
                    rows: Sequence[tuple[object, ...]]) -> None:
        if rows:
            await cur.executemany(query.format(t=table), rows)
