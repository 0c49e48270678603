"""AsyncAPI 3.0.0 description of every topic and event, generated from the registry and pydantic models."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from schemas.catalog import REGISTRY
from schemas.envelope import Envelope
from schemas.registry import EventType, Registry
from schemas.topics import DEADLETTER

REF_PREFIX = "#/components/schemas/"
KAFKA_BINDING_VERSION = "0.5.0"
DEADLETTER_MESSAGE = "DeadLetter"
# Header names written by projections/deadletter.py (schemas/ imports nothing from projections).
DLQ_HEADERS = {
    "opsledger.dlq.consumer": "name of the consumer that gave up on the record",
    "opsledger.dlq.error": "the error message, cut to 2000 characters",
    "opsledger.dlq.topic": "topic the record was read from",
    "opsledger.dlq.partition": "partition it was read from (decimal)",
    "opsledger.dlq.offset": "offset it was read at (decimal)",
    "opsledger.dlq.attempts": "how many times it was tried (decimal)",
}


def channel_id(topic: str) -> str:
    """`ingress.readings` -> `ingressReadings`."""
    head, *rest = topic.replace("-", ".").replace("_", ".").split(".")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def _reachable(schemas: dict[str, Any], roots: Any) -> dict[str, Any]:
    """Only the schemas that the roots reference, directly or through other schemas."""
    keep: set[str] = set()
    todo = [r.removeprefix(REF_PREFIX) for r in _refs(roots) if r.startswith(REF_PREFIX)]
    while todo:
        name = todo.pop()
        if name not in keep:
            keep.add(name)
            todo += [r.removeprefix(REF_PREFIX) for r in _refs(schemas[name]) if r.startswith(REF_PREFIX)]
    return {name: schemas[name] for name in sorted(keep)}


def _event_message(entry: EventType, envelope: dict[str, Any], data_ref: dict[str, str]) -> dict[str, Any]:
    payload = copy.deepcopy(envelope)
    payload["title"] = f"{entry.name} envelope"
    props = payload["properties"]
    props["type"] = {**props["type"], "const": entry.name}
    props["schema_version"] = {**props["schema_version"], "minimum": 1, "maximum": entry.version,
                               "description": "older versions are upcast by readers"}
    props["data"] = data_ref
    return {
        "name": entry.name,
        "title": entry.name,
        "summary": entry.summary,
        "contentType": "application/json",
        "payload": payload,
        "x-schema-version": entry.version,
        "bindings": {"kafka": {"key": {**props["subject"], "description": "the event subject (Kafka key)"},
                               "bindingVersion": KAFKA_BINDING_VERSION}},
    }


def _deadletter_message() -> dict[str, Any]:
    return {
        "name": DEADLETTER_MESSAGE,
        "title": "Dead-lettered record",
        "summary": "A record some consumer could not process, forwarded unchanged.",
        "description": "The value is the original record's bytes, unchanged (usually one of the event "
                       "envelopes, possibly not even JSON); the key is the original key. Why and where "
                       "it failed rides in the opsledger.dlq.* headers (values are UTF-8 text).",
        "contentType": "application/octet-stream",
        "payload": {"description": "the original record value, byte for byte"},
        "headers": {"type": "object", "required": sorted(DLQ_HEADERS),
                    "properties": {h: {"type": "string", "description": d} for h, d in DLQ_HEADERS.items()}},
        "bindings": {"kafka": {"key": {"type": "string", "description": "the original record's key"},
                               "bindingVersion": KAFKA_BINDING_VERSION}},
    }


def _asyncapi_discriminators(node: Any) -> Any:
    """pydantic writes OpenAPI's discriminator object ({propertyName, mapping}); an AsyncAPI 3.0 Schema Object's
    discriminator is the property name alone (the oneOf members carry the rest)."""
    if isinstance(node, dict):
        found = node.get("discriminator")
        fixed = {k: _asyncapi_discriminators(v) for k, v in node.items()}
        if isinstance(found, dict) and "propertyName" in found:
            fixed["discriminator"] = found["propertyName"]
        return fixed
    if isinstance(node, list):
        return [_asyncapi_discriminators(v) for v in node]
    return node


def asyncapi_document(registry: Registry = REGISTRY, *, title: str = "Opsledger events",
                      version: str = "0.1.0") -> dict[str, Any]:
    types = sorted(registry.types(), key=lambda t: t.name)
    inputs: list[tuple[type[BaseModel], JsonSchemaMode]] = [(t.model, "validation") for t in types]
    refs, top = models_json_schema([(Envelope, "validation"), *inputs], ref_template=REF_PREFIX + "{model}")
    defs: dict[str, Any] = _asyncapi_discriminators(top.get("$defs", {}))
    envelope = defs[refs[(Envelope, "validation")]["$ref"].removeprefix(REF_PREFIX)]
    messages = {t.name: _event_message(t, envelope, refs[(t.model, "validation")]) for t in types}
    messages[DEADLETTER_MESSAGE] = _deadletter_message()

    by_topic: dict[str, list[str]] = {topic: [] for topic in sorted({*registry.topics(), DEADLETTER})}
    for t in types:
        by_topic[t.topic].append(t.name)
    by_topic[DEADLETTER].append(DEADLETTER_MESSAGE)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic, names in by_topic.items():
        cid = channel_id(topic)
        description = f"Kafka topic `{topic}`."
        if topic == DEADLETTER:
            description += (" Records that a consumer gave up on: the value is the original bytes and "
                            "the headers " + ", ".join(DLQ_HEADERS) + " say who failed, why and where.")
        channels[cid] = {
            "address": topic,
            "title": topic,
            "description": description,
            "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in names},
            "bindings": {"kafka": {"topic": topic, "bindingVersion": KAFKA_BINDING_VERSION}},
        }
        channel_messages = [{"$ref": f"#/channels/{cid}/messages/{n}"} for n in names]
        suffix = cid[:1].upper() + cid[1:]
        for action, verb in (("receive", "consume"), ("send", "publish")):
            operations[f"{verb}{suffix}"] = {"action": action, "channel": {"$ref": f"#/channels/{cid}"},
                                             "summary": f"{verb.capitalize()} records on `{topic}`.",
                                             "messages": list(channel_messages)}

    return {
        "asyncapi": "3.0.0",
        "info": {"title": title, "version": version,
                 "description": "Every Kafka topic and event of the platform, generated from the "
                                "pydantic models in schemas/ (do not edit by hand)."},
        "defaultContentType": "application/json",
        "servers": {"kafka": {"host": "localhost:9092", "protocol": "kafka",
                              "description": "Placeholder: the real bootstrap servers come from "
                                             "KAFKA_BOOTSTRAP_SERVERS."}},
        "channels": channels,
        "operations": dict(sorted(operations.items())),
        "components": {"messages": dict(sorted(messages.items())), "schemas": _reachable(defs, messages)},
    }


def write_document(path: Path) -> None:
    body = orjson.dumps(asyncapi_document(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    path.write_bytes(body + b"\n")
