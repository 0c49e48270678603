"""Every ingress, file and event endpoint answers bad input with a 4xx problem+json, never a 5xx."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.factories import reading_body
from tests.helpers.support import Stack, own_backbone, running_stack

REQUIRED = ["customer_name", "address", "node_id", "level_dbmv", "freq_start_mhz", "freq_end_mhz", "split_plan",
            "test_point", "home_connected", "install_phase"]  # technician defaults to the caller
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    # A fresh connection per request: if some input does cause a 5xx, the dropped connection stays ours.
    with stack.client(limits=httpx.Limits(max_keepalive_connections=0)) as fresh:
        yield fresh


@pytest.fixture(scope="module")
def reading_id(client: httpx.Client) -> str:
    created = client.post("/api/ingress", params={"wait": "true"}, json=reading_body())
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def assert_problem(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert 400 <= response.status_code < 500 and response.status_code in (statuses or [response.status_code]), \
        f"{response.status_code}: {response.text[:500]}"
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == response.status_code
    return body


def assert_names(body: dict[str, Any], *fields: str) -> None:
    """The validation errors point at (one of) the offending field(s)."""
    locs = [e["loc"] for e in body["errors"]]
    assert any(f in loc for f in fields for loc in locs), f"none of {fields} in {locs}"


def send(client: httpx.Client, method: str, reading_id: str, headers: dict[str, str] | None = None,
         **kwargs: Any) -> httpx.Response:
    if method == "POST":
        return client.post("/api/ingress", headers=headers, **kwargs)
    return client.put(f"/api/ingress/{reading_id}", headers={"If-Match": '"1"', **(headers or {})}, **kwargs)


METHODS = pytest.mark.parametrize("method", ["POST", "PUT"])
BAD_FIELDS: dict[str, dict[str, Any]] = {  # each names the one field it breaks
    "level is a word": {"level_dbmv": "loud"}, "level 150 dBmV": {"level_dbmv": 150},
    "start at 3 MHz": {"freq_start_mhz": 3}, "end at 300 MHz": {"freq_end_mhz": 300},
    "unknown split plan": {"split_plan": "ultra"}, "unknown test point": {"test_point": "roof"},
    "unknown install phase": {"install_phase": "during"}, "home_connected a word": {"home_connected": "perhaps"},
    "node id with spaces": {"node_id": "node 7!"}, "empty customer": {"customer_name": ""},
    "attachment not a sha": {"attachments": ["../etc/passwd"]}, "extra field": {"colour": "blue"},
}


@METHODS
@pytest.mark.parametrize("case", list(BAD_FIELDS))
def test_an_invalid_field_is_422_naming_it(client: httpx.Client, reading_id: str, method: str, case: str) -> None:
    body = assert_problem(send(client, method, reading_id, json=reading_body(**BAD_FIELDS[case])), 422)
    assert_names(body, *BAD_FIELDS[case])


BAND_RULES = {  # rules across fields: either field may be named
    "start equals end": ({"freq_start_mhz": 30, "freq_end_mhz": 30}, ("freq_start_mhz", "freq_end_mhz")),
    "start above end": ({"freq_start_mhz": 35, "freq_end_mhz": 30}, ("freq_start_mhz", "freq_end_mhz")),
    "end above the sub split": ({"freq_end_mhz": 50}, ("freq_end_mhz", "split_plan")),
}


@METHODS
@pytest.mark.parametrize("case", list(BAND_RULES))
def test_a_band_that_breaks_the_rules_is_422(client: httpx.Client, reading_id: str, method: str, case: str) -> None:
    assert_problem(send(client, method, reading_id, json=reading_body(**BAND_RULES[case][0])), 422)


@pytest.mark.parametrize("case", list(BAND_RULES))
def test_a_band_rule_error_names_the_band_fields(client: httpx.Client, case: str) -> None:
    overrides, fields = BAND_RULES[case]
    assert_names(assert_problem(client.post("/api/ingress", json=reading_body(**overrides)), 422), *fields)


@METHODS
@pytest.mark.parametrize("field", REQUIRED)
def test_a_missing_field_is_422_naming_it(client: httpx.Client, reading_id: str, method: str, field: str) -> None:
    incomplete = {k: v for k, v in reading_body().items() if k != field}
    assert_names(assert_problem(send(client, method, reading_id, json=incomplete), 422), field)


NOT_OBJECTS = [(b"not json", "application/json"), (b'{"level', "application/json"), (b"[]", "application/json"),
               (b"", "application/json"), (b"level=5", "application/x-www-form-urlencoded")]


@METHODS
@pytest.mark.parametrize(("content", "content_type"), NOT_OBJECTS)
def test_a_body_that_is_not_a_json_object_is_422(client: httpx.Client, reading_id: str, method: str,
                                                 content: bytes, content_type: str) -> None:
    assert_problem(send(client, method, reading_id, content=content, headers={"content-type": content_type}), 422)


@METHODS
def test_a_body_over_1_mib_is_413(client: httpx.Client, reading_id: str, method: str) -> None:
    assert_problem(send(client, method, reading_id, json=reading_body(notes="x" * (MIB + 1))), 413)


@METHODS
def test_a_streamed_body_over_1_mib_is_413(client: httpx.Client, reading_id: str, method: str) -> None:
    """Without Content-Length (chunked), the limit is noticed while reading: still 413."""
    chunks = (b" " * (64 * 1024) for _ in range(20))
    assert_problem(send(client, method, reading_id, content=chunks, headers={"content-type": "application/json"}),
                   413)


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/ingress/{}"), ("PUT", "/api/ingress/{}"),
                                              ("DELETE", "/api/ingress/{}"), ("GET", "/api/ingress/{}/history")])
@pytest.mark.parametrize("bad_id", ["not-a-uuid", "1234", "01a203e0-53a4-7c2e-b288-e401389ae7fZ"])
def test_an_invalid_reading_id_is_422(client: httpx.Client, method: str, path: str, bad_id: str) -> None:
    response = client.request(method, path.format(bad_id), headers={"If-Match": '"1"'},
                              json=reading_body() if method == "PUT" else None)
    assert_names(assert_problem(response, 422), "reading_id")


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize("if_match", ["abc", '"v1"', '"-1"', '"1.5"', ""])
def test_a_malformed_if_match_is_422(client: httpx.Client, reading_id: str, method: str, if_match: str) -> None:
    # If-Match has a declared pattern (an ETag this API hands out): outside it, a validation error like any other
    response = client.request(method, f"/api/ingress/{reading_id}", headers={"If-Match": if_match},
                              json=reading_body() if method == "PUT" else None)
    assert_names(assert_problem(response, 422), "if-match")
    assert client.get(f"/api/ingress/{reading_id}").status_code == 200  # nothing was retracted


def test_other_bad_command_parameters(client: httpx.Client, reading_id: str) -> None:
    assert_names(assert_problem(client.post("/api/ingress", params={"wait": "maybe"}, json=reading_body()), 422),
                 "wait")
    too_long = client.delete(f"/api/ingress/{reading_id}", params={"reason": "x" * 1001})
    assert_names(assert_problem(too_long, 422), "reason")
    assert_problem(client.patch(f"/api/ingress/{reading_id}", json={}), 405)


def forged_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


LIST_PARAMS = [
    ({"limit": 0}, "limit"), ({"limit": 10000}, "limit"), ({"limit": "ten"}, "limit"),
    ({"level_min": 500}, "level_min"), ({"level_max": -500}, "level_max"), ({"level_min": "nan"}, "level_min"),
    ({"band": "42-5"}, None), ({"band": "x"}, None), ({"band": "5-5"}, None), ({"band": "-5-42"}, None),
    ({"sort": "nope"}, "sort"), ({"order": "sideways"}, "order"), ({"split_plan": "ultra"}, "split_plan"),
    ({"exceeded": "maybe"}, "exceeded"), ({"submitted_from": "yesterday"}, "submitted_from"),
    ({"submitted_to": "2024-13-45"}, "submitted_to"), ({"node_id": "n" * 65}, "node_id"),
    ({"cursor": "garbage"}, None), ({"cursor": "%%%"}, None), ({"cursor": forged_cursor(1, 2, 3)}, None),
    ({"cursor": forged_cursor("x", "not-a-uuid")}, None),
    ({"cursor": forged_cursor("2024-01-01T00:00:00+00:00", str(uuid.uuid4())), "sort": "level_dbmv"}, None),
    ({"node_id": "\x00"}, None), ({"customer": "a\x00b"}, None), ({"after": "%%%"}, None),
]


@pytest.mark.parametrize(("params", "field"), LIST_PARAMS, ids=[repr(p) for p, _ in LIST_PARAMS])
def test_bad_list_parameters_are_a_4xx_problem(client: httpx.Client, params: dict[str, Any],
                                               field: str | None) -> None:
    body = assert_problem(client.get("/api/ingress", params=params), 400, 422)
    if field:
        assert_names(body, field)


EVENT_PARAMS = [
    ({"limit": 0}, "limit"), ({"limit": 5000}, "limit"), ({"order": "sideways"}, "order"),
    ({"recorded_from": "yesterday"}, "recorded_from"), ({"cursor": "garbage"}, None),
    ({"cursor": forged_cursor("seven")}, None), ({"cursor": forged_cursor(True)}, None),
    ({"cursor": forged_cursor(1.5)}, None), ({"subject": "\x00"}, None), ({"type": "a\x00"}, None),
    ({"topic": "\x00"}, None), ({"after": "%%%"}, None),
]


@pytest.mark.parametrize(("params", "field"), EVENT_PARAMS, ids=[repr(p) for p, _ in EVENT_PARAMS])
def test_bad_event_parameters_are_a_4xx_problem(client: httpx.Client, params: dict[str, Any],
                                                field: str | None) -> None:
    body = assert_problem(client.get("/api/events", params=params), 400, 422)
    if field:
        assert_names(body, field)


def test_an_invalid_event_id_is_422(client: httpx.Client) -> None:
    assert_names(assert_problem(client.get("/api/events/not-a-uuid"), 422), "event_id")


@pytest.mark.parametrize("path", ["/api/ingress/{id}", "/api/ingress/{id}/history", "/api/files/" + "a" * 64,
                                  "/api/events"])
def test_a_garbled_consistency_token_is_refused(client: httpx.Client, reading_id: str, path: str) -> None:
    outside_the_alphabet = client.get(path.format(id=reading_id), headers={"Opsledger-Consistency": "@@not-a-token"})
    assert_names(assert_problem(outside_the_alphabet, 422), "Opsledger-Consistency")
    meaningless = client.get(path.format(id=reading_id), headers={"Opsledger-Consistency": "bm90LWEtdG9rZW4"})
    assert_problem(meaningless, 400)  # base64url of "not-a-token": decodes, but names no position


def test_an_upload_without_a_file_field_is_422(client: httpx.Client) -> None:
    other_field = client.post("/api/files", files={"attachment": ("a.txt", b"hello", "text/plain")})
    assert_names(assert_problem(other_field, 422), "file")
    assert_names(assert_problem(client.post("/api/files", data={"file": "just text"}), 422), "file")


@pytest.mark.parametrize(("content", "content_type"), [(b"--xx--\r\n", "multipart/form-data; boundary=xx"),
                                                       (b"", "multipart/form-data; boundary=xx"),
                                                       (b"", "multipart/form-data"), (b"", None),
                                                       (b"--xx\r\ngarbage", "multipart/form-data; boundary=xx")])
def test_an_empty_or_broken_multipart_upload_is_a_4xx_problem(client: httpx.Client, content: bytes,
                                                              content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    assert_problem(client.post("/api/files", content=content, headers=headers), 400, 422)


@pytest.fixture(scope="module")
def private_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A backbone of its own: the next test may leave an event in the log that stops projections."""
    root: Path = tmp_path_factory.mktemp("nul-backbone")
    with own_backbone(root) as backbone, running_stack(backbone, root / "stack") as stack:
        yield stack


def test_nul_characters_are_refused_before_they_reach_the_log(private_stack: Stack) -> None:
    with private_stack.client() as own:
        created = own.post("/api/ingress", params={"wait": "true"}, json=reading_body())
        assert created.status_code == 201, created.text
        location = f"/api/ingress/{created.json()['id']}"
        answers = {
            "POST customer_name": own.post("/api/ingress", json=reading_body(customer_name="Oka\x00for")),
            "PUT notes": own.put(location, headers={"If-Match": '"1"'}, json=reading_body(notes="a\x00b")),
            "DELETE reason": own.delete(location, params={"reason": "a\x00b"}),
        }
        accepted = {name: r.status_code for name, r in answers.items() if r.status_code < 400}
        if accepted:
            after = own.post("/api/ingress", params={"wait": "true"}, json=reading_body())
            alive = private_stack.components["projections"].alive()
            pytest.fail(f"accepted {accepted}; a valid submit afterwards answered {after.status_code} and the "
                        f"projections process is {'running' if alive else 'dead'}")
        for name, response in answers.items():  # NUL in a URL is refused as a bad request before routing
            assert_problem(response, 400 if name.startswith("DELETE") else 422)
