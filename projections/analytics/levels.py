"""The levels of the metric read models — raw points and the 1 min / 5 min / 1 h rollups — with how each table is
partitioned and how long it is kept (settings: OPSLEDGER_RETENTION_*). The projection writes nothing a level no
longer keeps; `opsledger retention` drops the partitions past it; the API asks which levels still hold a moment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from infra.settings import RetentionSettings
from projections.partitions import DAY_S, MONDAY_S, Layout

MARGIN = timedelta(hours=1)  # partitions are dropped this much after their horizon: a write racing the drop is kept


@dataclass(frozen=True)
class Level:
    name: str  # raw, 1m, 5m, 1h
    table: str
    width_s: int  # bucket width; 0 for raw points
    layout: Layout
    keep: timedelta | None  # None: for ever

    def horizon(self, now: datetime) -> datetime | None:
        """The oldest moment this level still keeps (None: everything)."""
        return None if self.keep is None else now - self.keep

    def holds(self, at: datetime, now: datetime) -> bool:
        horizon = self.horizon(now)
        return horizon is None or at >= horizon


def _kept(days: float) -> timedelta | None:
    return timedelta(days=days) if days > 0 else None


def levels(policy: RetentionSettings) -> tuple[Level, ...]:
    """Finest first."""
    return (
        Level("raw", "metric_points", 0, Layout(DAY_S), _kept(policy.raw_hours / 24)),
        Level("1m", "metric_rollups_1m", 60, Layout(DAY_S), _kept(policy.minute_days)),
        Level("5m", "metric_rollups_5m", 300, Layout(7 * DAY_S, MONDAY_S), _kept(policy.five_minute_days)),
        Level("1h", "metric_rollups_1h", 3600, Layout(28 * DAY_S, MONDAY_S), _kept(policy.hour_days)),
    )


ROLLUP_TABLES = {60: "metric_rollups_1m", 300: "metric_rollups_5m", 3600: "metric_rollups_1h"}
