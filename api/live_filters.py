"""What a live-push client asked for, narrowed to what it may read (the REST read rules of each topic)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from api.identity.principal import Principal, permits
from api.identity.rules import TOPIC_READ, TYPE_READ
from api.live import Pushed
from api.problems import Problem
from schemas.catalog import REGISTRY

MAX_VALUES = 50  # per filter: a dashboard names a few topics and subjects, not thousands


@dataclass(frozen=True)
class StreamFilter:
    topics: frozenset[str]
    subjects: frozenset[str]
    types: frozenset[str]
    hidden_types: frozenset[str]  # types of the chosen topics this principal may not read (TYPE_READ)

    def accepts(self, item: Pushed) -> bool:
        return (item.topic in self.topics and item.type not in self.hidden_types
                and (not self.types or item.type in self.types)
                and (not self.subjects or item.subject in self.subjects))

    @property
    def where(self) -> sql.Composable:
        """The same filter for reading the archive (the backfill); `accepts` is applied on top."""
        parts = [sql.SQL("topic = ANY(%s)")]
        if self.types:
            parts.append(sql.SQL("type = ANY(%s)"))
        if self.subjects:
            parts.append(sql.SQL("subject = ANY(%s)"))
        return sql.SQL(" AND ").join(parts)

    @property
    def params(self) -> list[Any]:
        return [sorted(self.topics), *([sorted(self.types)] if self.types else []),
                *([sorted(self.subjects)] if self.subjects else [])]


def _values(name: str, given: Sequence[str] | None) -> frozenset[str]:
    values = frozenset(v for v in (given or ()) if v)
    if len(values) > MAX_VALUES:
        raise Problem(400, f"At most {MAX_VALUES} values of `{name}`.")
    if any(len(v) > 200 or "\x00" in v for v in values):
        raise Problem(400, f"A `{name}` value is too long or holds a NUL character.")
    return values


def readable_topics(principal: Principal) -> frozenset[str]:
    """The topics whose events this principal may read (live or from the archive): those of the REST reads it may
    call. The Faust changelogs and anything else outside TOPIC_READ are for admins alone (see `reads_everything`)."""
    return frozenset(topic for topic, rule in TOPIC_READ.items() if permits(principal, rule))


def hidden_types(principal: Principal) -> frozenset[str]:
    """Event types narrower than their topic (TYPE_READ) that this principal may not read."""
    return frozenset(t for t, rule in TYPE_READ.items() if not permits(principal, rule))


def reads_everything(principal: Principal) -> bool:
    return principal.kind == "user" and principal.role == "admin"


def authorised_filter(principal: Principal, topics: Sequence[str] | None, subjects: Sequence[str] | None,
                      types: Sequence[str] | None) -> StreamFilter:
    """400 for a topic or type that does not exist; 403 for one the caller may not read; the default topics are
    every topic the caller may read (403 when there is none)."""
    asked_topics, asked_types = _values("topic", topics), _values("type", types)
    unknown = sorted(asked_topics - set(TOPIC_READ))
    if unknown:
        raise Problem(400, f"Unknown topic {unknown[0]!r}; topics: {', '.join(sorted(TOPIC_READ))}.")
    type_topics = {t: event_type.topic for t in asked_types if (event_type := REGISTRY.get(t)) is not None}
    unknown = sorted(asked_types - set(type_topics))
    if unknown:
        raise Problem(400, f"Unknown event type {unknown[0]!r}; see /asyncapi.json for the event types.")
    readable, hidden = readable_topics(principal), hidden_types(principal)
    refused = sorted((asked_topics - readable) | (set(type_topics.values()) - readable) | (asked_types & hidden))
    if refused:
        raise Problem(403, f"You may not read {refused[0]!r} (the same rule as its REST reads).")
    chosen = frozenset(asked_topics or readable)
    if not chosen:
        raise Problem(403, "There is no topic you may read; an API key needs the read scope of a topic.")
    return StreamFilter(chosen, _values("subject", subjects), asked_types, hidden)

