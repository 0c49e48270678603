"""A mergeable quantile sketch: Datadog's DDSketch (the `ddsketch` library's logarithmic mapping, 1 % relative
accuracy) with its bins in plain dicts, and a JSON-able form.

DDSketch guarantees every quantile within a relative error `alpha` of the true value, and merging adds bin counts,
so a merged sketch is bin for bin the sketch of all the values: p95 of an hour equals p95 of its minutes merged.
The library's mapping decides each value's bin and each bin's value; the bins are kept in dicts rather than the
library's dense stores because a rollup makes a fresh sketch per series per minute (building the library's objects
cost more than everything else the rollups do) and a dict is its own serialised form. `quantile` is the library's
`get_quantile_value` over the same bins (tests/unit/analytics/test_rollups.py checks that against DDSketch itself).
Unlike the library's collapsing store, no bins are merged away: a bucket holds at most a few hundred keys.
"""

from __future__ import annotations

from typing import Any

from ddsketch.mapping import LogarithmicMapping

ALPHA = 0.01  # 1 % relative accuracy, DDSketch's default
MAPPING = LogarithmicMapping(ALPHA)
_TINY = MAPPING.min_possible


class Sketch:
    __slots__ = ("pos", "neg", "zero", "count")

    def __init__(self, pos: dict[int, float] | None = None, neg: dict[int, float] | None = None,
                 zero: float = 0.0) -> None:
        self.pos = pos if pos is not None else {}
        self.neg = neg if neg is not None else {}
        self.zero = zero
        self.count = zero + sum(self.pos.values()) + sum(self.neg.values())

    def add(self, value: float) -> None:
        if value > _TINY:
            key = MAPPING.key(value)
            self.pos[key] = self.pos.get(key, 0.0) + 1.0
        elif value < -_TINY:
            key = MAPPING.key(-value)
            self.neg[key] = self.neg.get(key, 0.0) + 1.0
        else:
            self.zero += 1.0
        self.count += 1.0

    def merge(self, other: Sketch) -> None:
        for mine, theirs in ((self.pos, other.pos), (self.neg, other.neg)):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0.0) + n
        self.zero += other.zero
        self.count += other.count

    def quantile(self, q: float) -> float | None:
        """DDSketch.get_quantile_value: the value of the bin holding rank q * (count - 1)."""
        if q < 0 or q > 1 or self.count == 0:
            return None
        rank = q * (self.count - 1)
        negatives = sum(self.neg.values())
        if rank < negatives:
            return -MAPPING.value(_key_at_rank(self.neg, negatives - rank - 1, lower=False))
        if rank < self.zero + negatives:
            return 0.0
        return MAPPING.value(_key_at_rank(self.pos, rank - self.zero - negatives, lower=True))

    def copy(self) -> Sketch:
        return Sketch(dict(self.pos), dict(self.neg), self.zero)

    def to_dict(self) -> dict[str, Any]:
        return {"alpha": ALPHA, "pos": sorted(self.pos.items()), "neg": sorted(self.neg.items()), "zero": self.zero}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sketch:
        if data["alpha"] != ALPHA:
            raise ValueError(f"sketch alpha {data['alpha']} cannot merge with {ALPHA}")
        return cls({int(k): float(n) for k, n in data["pos"]}, {int(k): float(n) for k, n in data["neg"]},
                   float(data["zero"]))


def _key_at_rank(bins: dict[int, float], rank: float, *, lower: bool) -> int:
    """The library's DenseStore.key_at_rank over sparse bins (ascending keys)."""
    running = 0.0
    keys = sorted(bins)
    for key in keys:
        running += bins[key]
        if (lower and running > rank) or (not lower and running >= rank + 1):
            return key
    return keys[-1]
