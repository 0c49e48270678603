"""Numbers in a rule must survive encoding into an event: orjson (and Kafka clients in other languages) stop at 64
bits, and a rule that validated but could not be encoded was a 500 (found by Schemathesis' positive-data check)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from schemas.alerts.rules import AlertRuleCreated
from schemas.catalog import REGISTRY


def rule(**fields: object) -> AlertRuleCreated:
    return AlertRuleCreated.model_validate({"rule_id": "r", "name": "r", "severity": "low",
                                            "params": {"kind": "generic", "event_type": "X"}, **fields})


@pytest.mark.parametrize("field", ["window_s", "stable_s"])
def test_flapping_periods_beyond_a_week_are_refused(field: str) -> None:
    assert rule(flapping={field: 7 * 86_400}).flapping is not None
    with pytest.raises(ValidationError):
        rule(flapping={field: 2**95})


@pytest.mark.parametrize("kind", [{"kind": "generic", "event_type": "X"}, {"kind": "ingress_over_limit"},
                                  {"kind": "cylinder", "event_types": ["CylinderOverdue"]}])
def test_auto_resolve_beyond_a_year_is_refused(kind: dict[str, object]) -> None:
    made = rule(params={**kind, "auto_resolve_s": 366 * 86_400})
    assert REGISTRY.decode(REGISTRY.encode(REGISTRY.event(made, source="test", subject="r"))).data == made
    for too_long in (366 * 86_400 + 1, 1482213198990259286722381611008):
        with pytest.raises(ValidationError):
            rule(params={**kind, "auto_resolve_s": too_long})


@pytest.mark.parametrize("value", [2**63 - 1, -(2**63), 2**70, -(2**64), 5, 1.5, "x", True, None])
def test_any_match_value_is_encoded(value: object) -> None:
    made = rule(params={"kind": "generic", "event_type": "X", "match": {"n": value}, "clear_match": {"m": value}})
    decoded = REGISTRY.decode(REGISTRY.encode(REGISTRY.event(made, source="test", subject="r")))
    kept = decoded.data.params.match["n"]  # type: ignore[union-attr]
    assert kept == value and type(kept) is type(value) if not isinstance(value, int) or abs(value) < 2**63 \
        else kept == float(value)
