"""Which alerts held by this worker have a timer due: each stored state's due time (decisions.due_at) in a heap, so
the alert timer's second-long pass looks only at states whose time has come, not at every alert it holds.

A due time depends on the stored state, its rule (the version this worker knows) and whether any silence exists. The
agents report each state they write (`wrote`); every other change is caught by a full look at the table: when the
consumer generation the caller passes changes (a rebalance) or is None (a table recovery running), after `forget` (a
recovery completed: it refilled states without the agents), and when the rule book changes (a rule's version,
silences coming or going). A full look works out again only the times of states it has not seen (a stored state is
replaced, never changed in place) or whose rule's version or silences' presence changed since. A state replaced
without any of these (a standby's changelog) is looked at again when its old due time comes, as the pass checks that
the state it kept is still the one stored.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Mapping
from datetime import datetime
from typing import Any

from processors.alerts.book import RuleBook
from processors.alerts.decisions import due_at

SLACK = 1024  # stale heap entries (states replaced since) allowed beyond twice the live ones before a rebuild


def basis_of(book: RuleBook, stored: dict[str, Any]) -> tuple[int, bool]:
    """What a state's due time depends on besides the state: its rule's version here, whether any silence exists."""
    return book.versions.get(stored["rule_id"] or "", 0), bool(book.silences)


class DueTimes:
    def __init__(self) -> None:
        # key -> (stored state, its due time, the version of its rule and whether silences existed, as worked out)
        self.kept: dict[str, tuple[dict[str, Any], datetime | None, tuple[int, bool]]] = {}
        self.heap: list[tuple[datetime, str]] = []  # (due time, key); entries of replaced states are skipped
        self.written: set[str] = set()
        self.generation: Hashable | None = None
        self.rules: tuple[int, bool] | None = None  # the rule book as the times were worked out
        self.full_looks = 0

    def wrote(self, key: str) -> None:
        """The agents replaced this key's state: its due time is worked out at the next pass."""
        self.written.add(key)

    def forget(self) -> None:
        """The next pass looks at every state (the table changed without the agents)."""
        self.generation = None

    def due(self, table: Mapping[str, Any], book: RuleBook, now: datetime,
            generation: Hashable | None) -> list[tuple[str, dict[str, Any]]]:
        """The keys whose stored state has a timer due at `now`, with that state (the table's JSON form). A key
        stays due at every pass until its state is replaced, as a full look at the table would find it.
        `generation`: the consumer generation, None while a table recovery runs."""
        rules = (book.changes, bool(book.silences))
        if generation is None or generation != self.generation or rules != self.rules:
            self._look_at_all(table, book)
            self.generation, self.rules = generation, rules
        else:
            for key in self.written:
                self._note(book, key, table.get(key))
            if len(self.heap) > 2 * len(self.kept) + SLACK:
                self._heapify()
        self.written.clear()
        found: dict[str, tuple[dict[str, Any], datetime]] = {}
        while self.heap and self.heap[0][0] <= now:
            at, key = heapq.heappop(self.heap)
            kept = self.kept.get(key)
            if kept is None or kept[1] != at or key in found:
                continue  # replaced since, or a second entry of the same time
            raw = table.get(key)
            if not raw or raw["state"] is not kept[0]:
                self._note(book, key, raw)  # replaced without the agents: its own time (again here if it has come)
                continue
            found[key] = (kept[0], at)
        for key, (_, at) in found.items():
            heapq.heappush(self.heap, (at, key))
        return [(key, stored) for key, (stored, _) in found.items()]

    def _look_at_all(self, table: Mapping[str, Any], book: RuleBook) -> None:
        """Every state's due time, worked out again where the state or what it depends on changed."""
        self.full_looks += 1
        known, self.kept = self.kept, {}
        for key, raw in list(table.items()):
            if raw:
                stored, seen = raw["state"], known.get(key)
                if seen is not None and seen[0] is stored and seen[2] == basis_of(book, stored):
                    self.kept[key] = seen
                else:
                    self.kept[key] = (stored, due_at(book, stored), basis_of(book, stored))
        self._heapify()

    def _heapify(self) -> None:
        self.heap = [(at, key) for key, (_, at, _) in self.kept.items() if at is not None]
        heapq.heapify(self.heap)

    def _note(self, book: RuleBook, key: str, raw: Any) -> None:
        if not raw:
            self.kept.pop(key, None)
            return
        stored = raw["state"]
        at = due_at(book, stored)
        self.kept[key] = (stored, at, basis_of(book, stored))
        if at is not None:
            heapq.heappush(self.heap, (at, key))
