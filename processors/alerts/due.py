"""Which alerts held by this worker have a timer due: each stored state's due time (decisions.due_at) in a heap, so
the alert timer's second-long pass looks only at states whose time has come, not at every alert it holds.

A due time depends on the stored state, its rule (the version this worker knows) and whether any silence exists. The
agents report each state they write (`wrote`); every other change is caught by a full look at the table: when the
basis the caller passes changes (the consumer generation, i.e. a rebalance; the rule book's changes; silences coming
or going), when it is None (a table recovery running) and after `forget` (a recovery completed: it refilled states
without the agents). A state replaced without either (a standby's changelog) is looked at again when its old due time
comes, as the pass checks that the state it kept is still the one stored.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Mapping
from datetime import datetime
from typing import Any

from processors.alerts.book import RuleBook
from processors.alerts.decisions import due_at

SLACK = 1024  # stale heap entries (states replaced since) allowed beyond twice the live ones before a rebuild


class DueTimes:
    def __init__(self) -> None:
        self.kept: dict[str, tuple[dict[str, Any], datetime]] = {}  # key -> (stored state, its due time)
        self.heap: list[tuple[datetime, str]] = []  # (due time, key); entries of replaced states are skipped
        self.written: set[str] = set()
        self.basis: Hashable | None = None
        self.full_looks = 0

    def wrote(self, key: str) -> None:
        """The agents replaced this key's state: its due time is worked out at the next pass."""
        self.written.add(key)

    def forget(self) -> None:
        """The next pass looks at every state (the table changed without the agents)."""
        self.basis = None

    def due(self, table: Mapping[str, Any], book: RuleBook, now: datetime,
            basis: Hashable | None) -> list[tuple[str, dict[str, Any]]]:
        """The keys whose stored state has a timer due at `now`, with that state (the table's JSON form). A key
        stays due at every pass until its state is replaced, as a full look at the table would find it."""
        if basis is None or basis != self.basis:
            self._look_at_all(table, book)
            self.basis = basis
        else:
            for key in self.written:
                self._note(book, key, table.get(key))
            if len(self.heap) > 2 * len(self.kept) + SLACK:
                self.heap = [(at, key) for key, (_, at) in self.kept.items()]
                heapq.heapify(self.heap)
        self.written.clear()
        found: dict[str, dict[str, Any]] = {}
        while self.heap and self.heap[0][0] <= now:
            at, key = heapq.heappop(self.heap)
            kept = self.kept.get(key)
            if kept is None or kept[1] != at or key in found:
                continue  # replaced since, or a second entry of the same time
            raw = table.get(key)
            if not raw or raw["state"] is not kept[0]:
                self._note(book, key, raw)  # replaced without the agents: its own time (again here if it has come)
                continue
            found[key] = kept[0]
        for key in found:
            heapq.heappush(self.heap, (self.kept[key][1], key))
        return list(found.items())

    def _look_at_all(self, table: Mapping[str, Any], book: RuleBook) -> None:
        self.full_looks += 1
        self.kept = {}
        for key, raw in list(table.items()):
            if raw:
                at = due_at(book, raw["state"])
                if at is not None:
                    self.kept[key] = (raw["state"], at)
        self.heap = [(at, key) for key, (_, at) in self.kept.items()]
        heapq.heapify(self.heap)

    def _note(self, book: RuleBook, key: str, raw: Any) -> None:
        at = due_at(book, raw["state"]) if raw else None
        if at is None:
            self.kept.pop(key, None)
            return
        self.kept[key] = (raw["state"], at)
        heapq.heappush(self.heap, (at, key))
