"""The OpenAPI document says exactly what the server takes: pinned cases of the contract drift Schemathesis found
(test_schemathesis.py fuzzes the rest) — methods and `Allow`, values the document calls free strings, lax numbers."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.helpers.support import Stack

PROBLEM = "application/problem+json"
METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def openapi(api: httpx.Client) -> dict[str, Any]:
    return dict(api.get("/openapi.json").json())


def test_every_path_answers_an_undocumented_method_with_405_and_the_whole_allow(api: httpx.Client,
                                                                                 openapi: dict[str, Any]) -> None:
    wrong = []
    for template, operations in openapi["paths"].items():
        documented = {m.upper() for m in operations if m in METHODS}
        path = re.sub(r"\{[^}]+\}", lambda m: example_id(m.group(0)), template)
        for method in ("OPTIONS", *sorted({"GET", "PUT", "POST", "DELETE", "PATCH"} - documented)):
            answer = api.request(method, path)
            allow = {m.strip() for m in answer.headers.get("allow", "").split(",") if m.strip()} - {"HEAD"}
            if answer.status_code != 405 or allow != documented:
                wrong.append(f"{method} {path}: {answer.status_code} Allow {sorted(allow)}, documented "
                             f"{sorted(documented)}")
    assert not wrong, "\n".join(wrong)


def example_id(parameter: str) -> str:
    """A value of the right shape for a path parameter (a code, a hash, a number or a uuid)."""
    return {"{qr_code}": "CYL-0000000000000", "{sha256}": "0" * 64, "{if_index}": "1", "{rule_id}": "r-1",
            "{customer}": "Acme"}.get(parameter, str(uuid.uuid4()))


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("GET", "/api/cylinders/ship", "POST"), ("GET", "/api/cylinders/add", "POST"),
    ("GET", "/api/cylinders/return", "POST"), ("GET", "/api/cylinders/trash", "POST"),
    ("GET", "/api/cylinders/reprint", "POST"), ("PUT", "/api/devices/discover", "POST"),
    ("PUT", "/api/devices/discovered", "GET"), ("DELETE", "/api/devices/status", "GET"),
    ("GET", "/api/alerts/acknowledge-all", "POST"), ("DELETE", "/api/alerts/summary", "GET"),
])
def test_a_path_that_looks_like_an_id_is_still_its_own_resource(api: httpx.Client, method: str, path: str,
                                                                allow: str) -> None:
    answer = api.request(method, path)
    assert answer.status_code == 405 and answer.headers["content-type"].startswith(PROBLEM), answer.text
    assert answer.headers["allow"] == allow


@pytest.mark.parametrize(("path", "body"), [
    ("/api/auth/api-keys/{id}/rotate", {"overlap_seconds": False}),
    ("/api/auth/api-keys/{id}/rotate", {"overlap_seconds": "60"}),
    ("/api/auth/api-keys/{id}/rotate", {"overlap_seconds": 60.5}),
    ("/api/cylinders/add", {"count": True}),
    ("/api/cylinders/add", {"count": "2"}),
    ("/api/alerts/rules", {"rule_id": "r", "name": "n", "severity": "low",
                           "params": {"kind": "device_unreachable", "for_s": "5"}}),
    ("/api/alerts/rules", {"rule_id": "r", "name": "n", "severity": "low",
                           "params": {"kind": "device_unreachable", "for_s": True}}),
    ("/api/alerts/rules", {"rule_id": "r", "name": "n", "severity": "low",
                           "params": {"kind": "metric_threshold", "metric": "in_bps", "raise_above": "5"}}),
    ("/api/ingress", {"level_dbmv": "-12.5"}),
])
def test_a_number_is_a_json_number_not_a_string_or_a_boolean(api: httpx.Client, path: str,
                                                             body: dict[str, Any]) -> None:
    if path.startswith("/api/ingress"):
        from tests.helpers.factories import reading_body

        body = {**reading_body(), **body}
    answer = api.post(path.format(id=uuid.uuid4()), json=body)
    assert answer.status_code == 422, answer.text
    assert any(str(loc[-1]) in body.get("params", body) or loc[-1] in body for loc in
               (e["loc"] for e in answer.json()["errors"])), answer.text


def test_the_kind_of_rule_params_is_required_as_the_server_requires_it(api: httpx.Client,
                                                                       openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    kinds = [name for name, schema in schemas.items() if "kind" in schema.get("properties", {})]
    assert kinds and all("kind" in schemas[name].get("required", []) for name in kinds), kinds
    answer = api.post("/api/alerts/rules", json={"rule_id": "r", "name": "n", "severity": "low",
                                                 "params": {"metric": "in_bps", "raise_above": 5}})
    assert answer.status_code == 422


def parameter(openapi: dict[str, Any], path: str, method: str, name: str) -> dict[str, Any]:
    """The parameter, with `schema` its string schema (the string branch of an optional one)."""
    found = [p for p in openapi["paths"][path][method]["parameters"] if p["name"].lower() == name.lower()]
    assert found, f"{method} {path} has no parameter {name}"
    schema = found[0]["schema"]
    strings = [branch for branch in schema.get("anyOf", [schema]) if branch.get("type") == "string"]
    return {**found[0], "schema": strings[0]}


def test_if_match_is_declared_as_the_etag_it_must_be(api: httpx.Client, openapi: dict[str, Any]) -> None:
    put = parameter(openapi, "/api/ingress/{reading_id}", "put", "if-match")
    assert put["required"] is True and put["schema"]["pattern"]
    delete = parameter(openapi, "/api/ingress/{reading_id}", "delete", "if-match")
    assert not delete.get("required") and delete["schema"]["pattern"] == put["schema"]["pattern"]
    pattern = re.compile(put["schema"]["pattern"])
    assert all(pattern.match(v) for v in ('"3"', 'W/"3"', "3")) and not any(
        pattern.match(v) for v in ("", "x", '"a"', '"1234567890"'))
    from tests.helpers.factories import reading_body

    missing = api.put(f"/api/ingress/{uuid.uuid4()}", json=reading_body())
    assert missing.status_code == 428 and missing.headers["content-type"].startswith(PROBLEM), missing.text


LISTS = ("/api/events", "/api/audit", "/api/alerts/", "/api/cylinders", "/api/admin/shipments", "/api/ingress")


@pytest.mark.parametrize("path", LISTS)
def test_cursors_are_declared_as_what_they_are(api: httpx.Client, openapi: dict[str, Any], path: str) -> None:
    """A cursor is declared as the opaque next_cursor of that list (its format), with the alphabet it is written in:
    text outside that alphabet is 422; base64url that is no cursor of this list is 400 saying so; its own works."""
    declared = parameter(openapi, path, "get", "cursor")["schema"]
    assert declared["format"] == "opsledger-cursor" and declared["pattern"] == "^[A-Za-z0-9_-]*$", declared
    assert api.get(path, params={"cursor": "not a cursor!"}).status_code == 422
    garbage = api.get(path, params={"cursor": "bm90LWEtY3Vyc29y"})  # base64url of "not-a-cursor"
    assert garbage.status_code == 400 and "cursor" in garbage.json()["detail"], garbage.text
    first = api.get(path, params={"limit": 1})
    assert first.status_code == 200, first.text
    if first.json()["next_cursor"]:
        assert api.get(path, params={"limit": 1, "cursor": first.json()["next_cursor"]}).status_code == 200


def test_the_consistency_token_is_declared_by_its_format(openapi: dict[str, Any]) -> None:
    header = parameter(openapi, "/api/ingress", "get", "opsledger-consistency")
    query = parameter(openapi, "/api/ingress", "get", "after")
    for declared in (header["schema"], query["schema"]):
        assert declared["format"] == "opsledger-consistency-token" and declared["pattern"]


def test_text_fields_declare_that_they_hold_no_nul(openapi: dict[str, Any]) -> None:
    reading = openapi["components"]["schemas"]["IngressReadingIn"]["properties"]["customer_name"]
    assert "\x00" not in reading and re.compile(reading["pattern"]).match("Okafor") and not re.compile(
        reading["pattern"]).match("Oka\x00for")


def test_optional_headers_are_declared_without_null(openapi: dict[str, Any]) -> None:
    """A header cannot carry a JSON null: a client following `anyOf [string, null]` sent the text `null` as If-Match
    (api/document.py)."""
    nullable = [f"{method} {path} {p['name']}" for path, operations in openapi["paths"].items()
                for method, operation in operations.items() for p in operation.get("parameters", [])
                if p["in"] == "header" and any(b.get("type") == "null" for b in p["schema"].get("anyOf", []))]
    assert not nullable, nullable


def test_the_document_speaks_json_schema(openapi: dict[str, Any]) -> None:
    """Bounds are `minimum`/`maximum` (pydantic wrote `ge`/`le`, which no reader knows, for a bound placed after a
    validator), and label names are only those of the pattern (patternProperties alone allow any other)."""
    wrong: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if "type" in node and {"ge", "le", "gt", "lt"} & set(node):
                wrong.append(f"{where}: {sorted({'ge', 'le', 'gt', 'lt'} & set(node))}")
            if "patternProperties" in node and node.get("additionalProperties") is not False:
                wrong.append(f"{where}: patternProperties without additionalProperties false")
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    walk(openapi, "")
    assert not wrong, wrong


@pytest.mark.parametrize(("method", "path"), [("PUT", "/api/ingress/nodes"), ("DELETE", "/api/devices/status"),
                                              ("POST", "/api/devices/discovered"), ("PATCH", "/api/events")])
def test_an_undeclared_method_is_405_for_every_role(stack: Stack, method: str, path: str) -> None:
    """A method a resource does not take is 405 before any rule of the caller's role (a viewer got 403)."""
    answer = httpx.request(method, f"{stack.api_url}{path}", headers=stack.user("viewer"), timeout=15)
    assert answer.status_code == 405 and answer.headers["allow"], answer.text
