"""Which rules may care about an observation: an index from what a rule looks at (a metric, a reachability target,
an event type, and for a generic rule with a `match` one of its fields and the value wanted) to the rules. The
alert-sources stage then classifies a few candidates instead of every rule: with 1,000 rules, comparing each event
with all of them cost about 3 ms of CPU per event (BENCHMARKS.md). Pure.

The index only prunes: every candidate is still classified by `alert_rules.classify`, so a rule found here that does
not match is harmless. It must never leave out a rule that would match: a generic rule is filed under one of its
match fields (equal scalars hash alike, so a dict lookup finds exactly the values `==` accepts).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from processors.alerts.rules import (
    INGRESS_EXCEEDED,
    AnomalyObserved,
    ImageHealth,
    MetricSample,
    Observation,
    Reachability,
    SourceEvent,
)
from schemas.alerts.rules import (
    AlertRule,
    AnomalyRule,
    CameraDown,
    CameraImage,
    CylinderEvents,
    DeviceUnreachable,
    GenericEvent,
    IngressOverLimit,
    MetricThreshold,
    RuleParams,
)

ANY: Hashable = ("any",)  # a rule kind this index does not know: a candidate for everything


def rule_keys(params: RuleParams) -> list[Hashable]:
    """The keys a rule is filed under: an observation reaches the rule only through one of them."""
    match params:
        case MetricThreshold():
            return [("metric", str(params.metric))]
        case DeviceUnreachable():
            return [("reach", "device")]
        case CameraDown():
            return [("reach", "camera")]
        case CameraImage():
            return [("camera_image", kind) for kind in params.kinds]
        case IngressOverLimit():
            return [("event", t) for t in (INGRESS_EXCEEDED, *params.clear_event_types)]
        case CylinderEvents():
            return [("event", str(t)) for t in (*params.event_types, *params.clear_event_types)]
        case AnomalyRule():
            return [("anomaly",)]
        case GenericEvent():
            keys = [_generic_key(params.event_type, params.match)]
            if params.clear_event_type is not None:
                keys.append(_generic_key(params.clear_event_type, params.clear_match))
            return keys
    return [ANY]


def _generic_key(event_type: str, match: Mapping[str, Any]) -> Hashable:
    if not match:
        return ("event", event_type)
    name = min(match)  # one field prunes enough; classify checks the others
    return ("field", event_type, name, match[name])


class RuleIndex:
    """Built once per change of the rule set (rules change rarely, events arrive all the time)."""

    def __init__(self, rules: Iterable[AlertRule]) -> None:
        self._by_key: dict[Hashable, list[AlertRule]] = {}
        self._fields: dict[str, set[str]] = {}  # event type -> match fields some rule is filed under
        self._order: dict[str, int] = {}
        for position, rule in enumerate(rules):
            self._order[rule.rule_id] = position
            for key in dict.fromkeys(rule_keys(rule.params)):  # a rule filed twice under one key is listed once
                self._by_key.setdefault(key, []).append(rule)
                if isinstance(key, tuple) and key[0] == "field":
                    self._fields.setdefault(key[1], set()).add(key[2])
        self.size = len(self._order)

    def needs_fields(self, event_type: str) -> bool:
        """Whether some rule compares fields of `event_type` events (a generic rule with `match`): only then does an
        observation of such an event carry its payload."""
        return event_type in self._fields or ANY in self._by_key

    def candidates(self, observation: Observation) -> list[AlertRule]:
        """The rules that may classify `observation`, in the rule set's order."""
        found = [rules for key in self._keys(observation) if (rules := self._by_key.get(key))]
        if not found:
            return []
        if len(found) == 1:
            return found[0]
        unique = {rule.rule_id: rule for rules in found for rule in rules}
        return sorted(unique.values(), key=lambda rule: self._order[rule.rule_id])

    def _keys(self, observation: Observation) -> list[Hashable]:
        keys: list[Hashable] = [ANY]
        if isinstance(observation, MetricSample):
            keys.append(("metric", str(observation.metric)))
        elif isinstance(observation, Reachability):
            keys.append(("reach", observation.target))
        elif isinstance(observation, ImageHealth):
            keys.append(("camera_image", observation.problem))
        elif isinstance(observation, AnomalyObserved):
            keys.append(("anomaly",))
        elif isinstance(observation, SourceEvent):
            event_type, fields = observation.event_type, observation.fields
            keys.append(("event", event_type))
            for name in self._fields.get(event_type, ()):
                value = fields.get(name)
                if name in fields and isinstance(value, Hashable):
                    keys.append(("field", event_type, name, value))
        return keys
