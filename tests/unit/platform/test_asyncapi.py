"""The generated AsyncAPI 3.0.0 document: complete, self-contained and stable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from infra import deadletter
from schemas import topics
from schemas.asyncapi import asyncapi_document, channel_id, write_document
from schemas.catalog import REGISTRY, all_topics
from schemas.envelope import Payload
from schemas.files.events import FileUploaded
from schemas.registry import Registry


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return asyncapi_document()


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"not a local reference: {ref}"
    node: Any = document
    for token in ref[2:].split("/"):
        key = token.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and key in node, f"unresolved $ref {ref}"
        node = node[key]
    return node


def all_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for v in node.values() for r in all_refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in all_refs(v)]
    return []


def channel_for(document: dict[str, Any], topic: str) -> dict[str, Any]:
    found = [c for c in document["channels"].values() if c["address"] == topic]
    assert len(found) == 1, f"expected one channel for {topic}"
    return found[0]


def test_top_level(doc: dict[str, Any]) -> None:
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"] == {**doc["info"], "title": "Opsledger events", "version": "0.1.0"}
    assert doc["defaultContentType"] == "application/json"
    server = doc["servers"]["kafka"]
    assert server["protocol"] == "kafka" and server["host"] == "localhost:9092"
    assert "KAFKA_BOOTSTRAP_SERVERS" in server["description"]


def test_every_event_is_a_message_on_its_topic_channel(doc: dict[str, Any]) -> None:
    assert REGISTRY.types()
    for entry in REGISTRY.types():
        channel = channel_for(doc, entry.topic)
        assert entry.name in channel["messages"]
        message = resolve(doc, channel["messages"][entry.name]["$ref"])
        assert message["name"] == entry.name and message["summary"] == entry.summary
        assert message["x-schema-version"] == entry.version
        assert message["contentType"] == "application/json"
        assert "headers" not in message
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
        payload = message["payload"]
        assert payload["properties"]["type"]["const"] == entry.name
        data = resolve(doc, payload["properties"]["data"]["$ref"])
        assert data["title"] == entry.model.__name__
        assert set(data["properties"]) == set(entry.model.model_fields)


def test_envelope_payload_matches_the_wire_format(doc: dict[str, Any]) -> None:
    event = REGISTRY.event(FileUploaded(sha256="0" * 64, size_bytes=1, content_type="text/plain"),
                           source="test", subject="s-1")
    payload = doc["components"]["messages"]["FileUploaded"]["payload"]
    body = event.wire_dict()
    assert set(body) == set(payload["properties"])
    assert set(payload["required"]) <= set(body)


def test_every_ref_resolves(doc: dict[str, Any]) -> None:
    refs = all_refs(doc)
    assert refs
    for ref in refs:
        resolve(doc, ref)
    assert not any("$defs" in schema for schema in doc["components"]["schemas"].values())


def test_channel_addresses_are_the_platform_topics(doc: dict[str, Any]) -> None:
    addresses = [c["address"] for c in doc["channels"].values()]
    assert sorted(addresses) == all_topics()
    for cid, channel in doc["channels"].items():
        assert cid == channel_id(channel["address"])


def test_deadletter_channel_documents_bytes_and_headers(doc: dict[str, Any]) -> None:
    channel = channel_for(doc, topics.DEADLETTER)
    (ref,) = (m["$ref"] for m in channel["messages"].values())
    message = resolve(doc, ref)
    written = {name for name, _ in deadletter.deadletter_headers("c", "e", "t", 0, 1)}
    assert written == {deadletter.H_CONSUMER, deadletter.H_ERROR, deadletter.H_TOPIC,
                       deadletter.H_PARTITION, deadletter.H_OFFSET, deadletter.H_ATTEMPTS}
    assert set(message["headers"]["properties"]) == written
    assert all(h in channel["description"] for h in written)
    assert "original bytes" in channel["description"]


def test_operations_reference_existing_channels_and_their_messages(doc: dict[str, Any]) -> None:
    actions: dict[str, set[str]] = {}
    for op_id, op in doc["operations"].items():
        channel = resolve(doc, op["channel"]["$ref"])
        assert channel in doc["channels"].values()
        assert op["action"] in {"send", "receive"}
        actions.setdefault(channel["address"], set()).add(op["action"])
        prefix = op["channel"]["$ref"] + "/messages/"
        assert op["messages"] and all(m["$ref"].startswith(prefix) for m in op["messages"]), op_id
    assert doc["operations"]["consumeIngressReadings"]["action"] == "receive"
    assert actions == {topic: {"send", "receive"} for topic in all_topics()}


def test_output_is_deterministic(doc: dict[str, Any], tmp_path: Path) -> None:
    options = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    assert orjson.dumps(asyncapi_document(), option=options) == orjson.dumps(doc, option=options)
    path = tmp_path / "asyncapi.json"
    write_document(path)
    first = path.read_bytes()
    write_document(path)
    assert path.read_bytes() == first
    assert orjson.loads(first) == orjson.loads(orjson.dumps(doc))


def test_other_registry_and_metadata() -> None:
    class Pinged(Payload):
        """Someone pinged."""

        who: str

    registry = Registry()
    registry.register(Pinged, "ping-pong")
    document = asyncapi_document(registry, title="T", version="9")
    assert document["info"]["title"] == "T" and document["info"]["version"] == "9"
    assert {c["address"] for c in document["channels"].values()} == {"ping-pong", topics.DEADLETTER}
    assert "pingPong" in document["channels"]
    assert document["components"]["messages"]["Pinged"]["summary"] == "Someone pinged."
    for ref in all_refs(document):
        resolve(document, ref)


def test_the_document_is_valid_against_the_official_asyncapi_3_schema() -> None:
    import json
    from pathlib import Path

    import jsonschema

    schema = json.loads((Path(__file__).parents[2] / "fixtures" / "asyncapi-3.0.0.schema.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(asyncapi_document()), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


def test_the_official_schema_catches_a_broken_document() -> None:
    import json
    from pathlib import Path

    import jsonschema

    schema = json.loads((Path(__file__).parents[2] / "fixtures" / "asyncapi-3.0.0.schema.json").read_text())
    broken = {**asyncapi_document(), "channels": {"x": {"address": 42}}}
    assert list(jsonschema.Draft7Validator(schema).iter_errors(broken))
