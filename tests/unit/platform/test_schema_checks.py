"""The schema's checks that run in pydantic-core (no call into Python per value) refuse exactly what the Python
validators they replaced refused: a JSON number that is not a string or a boolean, no NUL character in any text of a
payload however deep, a series key that is 1 to 16 segments (BENCHMARKS.md: these validators were up to half of a
decode).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BeforeValidator, TypeAdapter, ValidationError

from schemas.alerts.rules import AlertRuleCreated
from schemas.alerts.silences import Matcher, SilenceCreated
from schemas.analytics.events import MetricPointsSubmitted
from schemas.analytics.series import KEY, valid_key
from schemas.catalog import REGISTRY
from schemas.envelope import JsonFloat, Payload, json_number
from schemas.registry import EventDecodeError
from tests.unit.platform.test_registry import PAYLOADS, envelope_of

AS_BEFORE = TypeAdapter(Annotated[float, BeforeValidator(json_number)])  # JsonFloat as it was: lax float behind a check
NOW = TypeAdapter(JsonFloat)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats()
    | st.text(max_size=8) | st.sampled_from(["5", "5.0", "-1e3", "NaN", "inf", " 7 ", "0x10", "1_000", "true"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6)


def outcome(adapter: TypeAdapter[Any], validate: str, value: Any) -> tuple[str, Any]:
    try:
        got = getattr(adapter, validate)(value)
    except ValidationError:
        return "refused", None
    return "accepted", repr(got)  # repr: nan == nan is false


@given(value=json_values)
def test_a_json_float_accepts_and_refuses_json_text_as_the_python_check_did(value: Any) -> None:
    raw = json.dumps(value).encode()  # the standard library writes NaN and Infinity, and integers past 64 bits
    assert outcome(NOW, "validate_json", raw) == outcome(AS_BEFORE, "validate_json", raw)


@given(value=json_values)
def test_a_json_float_accepts_and_refuses_python_values_as_the_python_check_did(value: Any) -> None:
    assert outcome(NOW, "validate_python", value) == outcome(AS_BEFORE, "validate_python", value)


@pytest.mark.parametrize("raw", [b"5", b"-2.5", b"1e3", b"NaN", b"Infinity", b'"5"', b"true", b"false", b"null",
                                 b'"NaN"'])
def test_a_json_float_as_the_python_check_did_on_edge_cases(raw: bytes) -> None:
    assert outcome(NOW, "validate_json", raw) == outcome(AS_BEFORE, "validate_json", raw)


def text_leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, str):
        return [path]
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in text_leaves(item, (*path, key))]
    if isinstance(value, list):
        return [leaf for i, item in enumerate(value) for leaf in text_leaves(item, (*path, i))]
    return []


def with_nul(value: Any, path: tuple[Any, ...], at: int) -> Any:
    if not path:
        return value[:at] + "\x00" + value[at:]
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = with_nul(value[path[0]], path[1:], at)
    return copy


@pytest.mark.parametrize("model", list(PAYLOADS), ids=lambda m: m.__name__)
@given(pick=st.integers(min_value=0), at=st.integers(min_value=0))
def test_a_nul_in_any_text_of_any_payload_is_refused_on_every_path(model: type[Payload], pick: int, at: int) -> None:
    body = orjson.loads(REGISTRY.encode(envelope_of(PAYLOADS[model])))
    leaves = text_leaves(body["data"])
    if not leaves:
        return  # no text in this payload's sample: nothing to hide a NUL in
    path = leaves[pick % len(leaves)]
    text = body["data"]
    for key in path:
        text = text[key]
    bad = {**body, "data": with_nul(body["data"], path, at % (len(text) + 1))}

    with pytest.raises(EventDecodeError):
        REGISTRY.decode(orjson.dumps(bad))  # the bytes path: the registry looks for the escape itself
    with pytest.raises(EventDecodeError):
        REGISTRY.from_dict(bad)  # the Python path (an upcast, a consumer of dicts): the payload's own check
    with pytest.raises(ValidationError):
        model.model_validate(bad["data"])


def test_a_nul_in_a_nested_model_built_in_python_is_refused() -> None:
    with pytest.raises(ValidationError, match="NUL"):
        Matcher(label="device", value="sw1\x00")
    silence = PAYLOADS[SilenceCreated].model_dump()
    silence["matchers"] = ({"label": "device", "value": "sw1\x00"},)
    with pytest.raises(ValidationError, match="NUL"):
        SilenceCreated(**silence)
    with pytest.raises(ValidationError, match="NUL"):
        AlertRuleCreated(**{**PAYLOADS[AlertRuleCreated].model_dump(), "labels": {"team": "noc\x00"}})


keys = st.lists(st.text(alphabet=st.sampled_from("ab9._:@%-/\n *é\x00"), min_size=0, max_size=6), min_size=1,
                max_size=18).map("/".join)


@given(key=keys | st.from_regex(KEY, fullmatch=True))
def test_a_series_key_in_an_event_is_what_valid_key_says_it_is(key: str) -> None:
    def schema_takes(key: str) -> bool:
        try:
            MetricPointsSubmitted.model_validate({"series": key, "points": [{"t": "2026-01-01T00:00:00Z", "value": 1}]})
        except ValidationError:
            return False
        return True

    assert schema_takes(key) == valid_key(key)


@pytest.mark.parametrize("key", ["a\n", "a/b\n", "\na", "a//b", "/".join(["a"] * 17), "a" * 201])
def test_a_series_key_with_a_final_newline_or_too_many_segments_is_refused(key: str) -> None:
    assert not valid_key(key)
    with pytest.raises(ValidationError):
        MetricPointsSubmitted.model_validate({"series": key, "points": [{"t": "2026-01-01T00:00:00Z", "value": 1}]})

