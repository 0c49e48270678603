"""The alert engine's first stage, run in-process by the agent that handles an event: the ingress, cylinder and
device agents hand over their input and every event they derive, so each source record crosses Faust once (before,
a second agent subscribed to every topic read each record again, and paid Faust's per-message cost for it even with
no rule loaded). The `alert-sources` agent keeps only the topics no domain agent reads (files, audit, camera checks,
the registry).

For each observation an event holds and each rule that looks at it (and no skip_evaluation silence covers), the
router sends {rule, observation, at, cause} to the internal observations topic keyed by fingerprint; stage 2
(processors/alerts/agents.py) decides. Observation ids come from event ids, so a redelivered input routes the same
observations again and stage 2 ignores what it has seen.
"""

from __future__ import annotations

from typing import Any

import structlog

from processors.alerts.book import RuleBook
from processors.alerts.decisions import cause_of
from processors.alerts.observations import observations_of, to_wire
from processors.alerts.rules import alert_labels, classify
from schemas.alerts.identity import fingerprint
from schemas.envelope import Envelope

log = structlog.get_logger(__name__)


class AlertRouter:
    def __init__(self, book: RuleBook, observed: Any) -> None:
        self.book, self._observed = book, observed

    async def ready(self, written_at_ms: float | None = None) -> None:
        """Before routing events written up to `written_at_ms` (their records' timestamps): every rule and silence
        written before them is in the book, so an event sees the rules created before it."""
        try:
            await self.book.caught_up(written_at_ms)
        except TimeoutError:
            log.warning("alerts.rules_not_caught_up", rules=len(self.book.rules))

    async def route(self, envelope: Envelope) -> None:
        if not self.book.rules:
            return
        now = envelope.occurred_at
        with_fields = self.book.index().needs_fields(envelope.type)
        for observation in observations_of(envelope, with_fields):
            for rule in self.book.candidates(observation):
                if classify(rule.params, observation) is None:
                    continue
                if self.book.skips(alert_labels(rule, observation.subject, observation.labels), now):
                    continue
                key = fingerprint(rule.rule_id, observation.subject)
                await self._observed.send(key=key.encode(), value={
                    "rule": self.book.dumped(rule), "observation": to_wire(observation),
                    "at": now.isoformat(), "cause": cause_of(envelope)})
