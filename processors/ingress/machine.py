"""Pure: compare an ingress reading with the limit lines configured per band and per node."""

from __future__ import annotations

import math
from dataclasses import dataclass

from schemas.catalog import REGISTRY
from schemas.envelope import Envelope, derived_event_id
from schemas.ingress.events import (
    IngressLimitExceeded,
    IngressReading,
    IngressReadingCorrected,
    IngressReadingSubmitted,
)


@dataclass(frozen=True)
class LimitLine:
    start_mhz: float
    end_mhz: float
    limit_dbmv: float
    node_id: str | None = None

    @property
    def label(self) -> str:
        where = f"{self.node_id}@" if self.node_id else ""
        return f"{where}{self.start_mhz:g}-{self.end_mhz:g}:{self.limit_dbmv:g}"


def parse_limits(spec: str) -> tuple[LimitLine, ...]:
    """Parse "5-15:-10,node7@15-42:-25": band START-END MHz, limit in dBmV, optional node override."""
    lines = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        node, _, rest = part.rpartition("@")
        band, sep, limit = rest.partition(":")
        start, dash, end = band.partition("-")
        if not sep or not dash:
            raise ValueError(f"limit line {part!r} is not [node@]START-END:DBMV")
        numbers = (float(start), float(end), float(limit))
        if not all(math.isfinite(n) for n in numbers):
            raise ValueError(f"limit line {part!r}: numbers must be finite")
        line = LimitLine(*numbers, node or None)
        if line.start_mhz >= line.end_mhz:
            raise ValueError(f"limit line {part!r}: start must be below end")
        lines.append(line)
    return tuple(lines)


def limit_for(reading: IngressReading, lines: tuple[LimitLine, ...]) -> LimitLine | None:
    """The strictest line overlapping the reading's band; lines for its node replace the general ones."""
    overlapping = [ln for ln in lines
                   if ln.start_mhz < reading.freq_end_mhz and reading.freq_start_mhz < ln.end_mhz]
    own = [ln for ln in overlapping if ln.node_id == reading.node_id]
    candidates = own or [ln for ln in overlapping if ln.node_id is None]
    return min(candidates, key=lambda ln: ln.limit_dbmv, default=None)


def decide(lines: tuple[LimitLine, ...], event: Envelope, source: str) -> list[Envelope]:
    """[IngressLimitExceeded] for a submitted or corrected reading above its limit; [] otherwise. Stateless: the
    limit lines are configuration, and the verdict's id comes from the reading's event, so a redelivery repeats it."""
    data = event.data
    if not isinstance(data, IngressReadingSubmitted | IngressReadingCorrected):
        return []
    line = limit_for(data.reading, lines)
    if line is None or data.reading.level_dbmv <= line.limit_dbmv:
        return []
    derived = IngressLimitExceeded(
        reading_id=data.reading_id, version=data.version, node_id=data.reading.node_id,
        level_dbmv=data.reading.level_dbmv, limit_dbmv=line.limit_dbmv,
        exceeded_by_db=round(data.reading.level_dbmv - line.limit_dbmv, 3), limit_rule=line.label,
    )
    return [REGISTRY.event(
        derived, event_id=derived_event_id(event.event_id, "IngressLimitExceeded"), occurred_at=event.occurred_at,
        source=source, subject=event.subject, actor=event.actor, correlation_id=event.correlation_id,
        causation_id=event.event_id,
    )]
