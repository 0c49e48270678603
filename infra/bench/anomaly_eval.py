"""Event-level scoring of raised anomaly events against labelled windows (NAB-style, counted in events, not points).

A window is detected by the first event raised inside [start, max(end, start + tolerance)]; its delay is that
event's index minus start. An event raised outside every window is a false positive. Further events inside an
already-detected window are neither: they are reported as `repeats` (flapping an operator would still see).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from infra.bench.anomaly_set import Anomaly

AFTER_WINDOW_POINTS = 288  # a false positive this soon after a window is blamed on that window's kind (diagnostics)


@dataclass
class Tally:
    windows: int = 0
    detected: int = 0
    false_positives: int = 0
    repeats: int = 0
    delays: list[int] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.windows += other.windows
        self.detected += other.detected
        self.false_positives += other.false_positives
        self.repeats += other.repeats
        self.delays.extend(other.delays)


def score_series(anomalies: Sequence[Anomaly], raised_at: Iterable[int], tolerance: int) -> dict[str, Tally]:
    """Per anomaly kind, plus "all"; false positives are also counted under "after_<kind>" when they follow one."""
    tallies: dict[str, Tally] = {"all": Tally()}
    detected: set[int] = set()
    for a in anomalies:
        tallies.setdefault(a.kind, Tally()).windows += 1
        tallies["all"].windows += 1
    for at in raised_at:
        hit = next((k for k, a in enumerate(anomalies) if a.start <= at <= max(a.end, a.start + tolerance)), None)
        if hit is None:
            tallies["all"].false_positives += 1
            before = [a for a in anomalies if a.end < at <= a.end + AFTER_WINDOW_POINTS]
            if before:
                tallies.setdefault(f"after_{before[-1].kind}", Tally()).false_positives += 1
            continue
        kind = anomalies[hit].kind
        if hit in detected:
            tallies["all"].repeats += 1
            tallies[kind].repeats += 1
            continue
        detected.add(hit)
        for key in ("all", kind):
            tallies[key].detected += 1
            tallies[key].delays.append(at - anomalies[hit].start)
    return tallies


def summary(t: Tally) -> dict[str, float | int | None]:
    precision = t.detected / (t.detected + t.false_positives) if t.detected + t.false_positives else None
    recall = t.detected / t.windows if t.windows else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else None
    return {
        "windows": t.windows,
        "detected": t.detected,
        "false_positives": t.false_positives,
        "repeats": t.repeats,
        "precision": None if precision is None else round(precision, 4),
        "recall": None if recall is None else round(recall, 4),
        "f1": None if f1 is None else round(f1, 4),
        "median_delay_points": statistics.median(t.delays) if t.delays else None,
    }
