"""One registry: event type -> payload model -> topic, with upcasters for older schema versions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from schemas.envelope import Envelope, Payload

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class EventDecodeError(ValueError):
    """Bytes that are not a valid event of a known type."""


@dataclass(frozen=True)
class EventType:
    name: str
    model: type[Payload]
    topic: str
    version: int = 1
    upcasters: dict[int, Upcaster] = field(default_factory=dict)  # from-version -> upcast to next
    summary: str = ""


class Registry:
    def __init__(self) -> None:
        self._types: dict[str, EventType] = {}
        self._by_model: dict[type[Payload], EventType] = {}

    def register(self, model: type[Payload], topic: str, *, version: int = 1,
                 upcasters: dict[int, Upcaster] | None = None) -> type[Payload]:
        name = model.__name__
        if name in self._types:
            raise ValueError(f"event type {name} registered twice")
        entry = EventType(name, model, topic, version, upcasters or {}, (model.__doc__ or "").strip())
        self._types[name] = entry
        self._by_model[model] = entry
        return model

    def types(self) -> list[EventType]:
        return list(self._types.values())

    def topics(self) -> list[str]:
        return sorted({t.topic for t in self._types.values()})

    def of(self, model: type[Payload]) -> EventType:
        return self._by_model[model]

    def get(self, name: str) -> EventType | None:
        return self._types.get(name)

    def event(self, data: Payload, **meta: Any) -> Envelope:
        entry = self._by_model[type(data)]
        return Envelope(type=entry.name, schema_version=entry.version, data=data, **meta)

    def topic_of(self, event: Envelope) -> str:
        return self._types[event.type].topic

    def encode(self, event: Envelope) -> bytes:
        return orjson.dumps(event.wire_dict())

    def decode(self, raw: bytes | None) -> Envelope:
        if raw is None:
            raise EventDecodeError("empty message")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise EventDecodeError(f"not JSON: {e}") from e
        return self.from_dict(body)

    def from_dict(self, body: Any) -> Envelope:
        if not isinstance(body, dict):
            raise EventDecodeError("event is not a JSON object")
        entry = self._types.get(str(body.get("type")))
        if entry is None:
            raise EventDecodeError(f"unknown event type {body.get('type')!r}")
        data = body.get("data")
        version = body.get("schema_version", 1)
        if not isinstance(data, dict) or not isinstance(version, int) or isinstance(version, bool):
            raise EventDecodeError("data must be an object and schema_version an integer")
        if version > entry.version:
            raise EventDecodeError(f"{entry.name} v{version} is newer than this reader (v{entry.version})")
        while version < entry.version:
            upcast = entry.upcasters.get(version)
            if upcast is None:
                raise EventDecodeError(f"no upcaster for {entry.name} v{version}")
            data, version = upcast(data), version + 1
        try:
            payload = entry.model.model_validate(data)
            return Envelope.model_validate({**body, "schema_version": version, "data": payload})
        except ValidationError as e:
            raise EventDecodeError(f"invalid {entry.name}: {e.errors(include_url=False)}") from e
