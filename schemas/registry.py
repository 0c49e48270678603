"""One registry: event type -> payload model -> topic, with upcasters for older schema versions.

Each type gets a typed envelope class (`data` is its payload model, `type` and `schema_version` are literals),
so the common case decodes in one pydantic-core call; older versions take the dict path through upcasters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union

import orjson
from pydantic import Field, TypeAdapter, ValidationError, create_model

from schemas.envelope import NUL_CHECKED, Envelope, Payload

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
    envelope: type[Envelope] = Envelope  # the typed envelope of this type


def typed_envelope(name: str, model: type[Payload], version: int) -> type[Envelope]:
    fields: dict[str, Any] = {
        "type": (Literal[name], name),
        "schema_version": (int, Field(version, strict=True, ge=version, le=version)),
        "data": (model, ...),
    }
    typed: type[Envelope] = create_model(f"{name}Event", __base__=Envelope, __module__=model.__module__, **fields)
    return typed


class Registry:
    def __init__(self) -> None:
        self._types: dict[str, EventType] = {}
        self._by_model: dict[type[Payload], EventType] = {}
        self._fast: TypeAdapter[Any] | None = None
        self._typed_adapters: dict[str, TypeAdapter[Any]] = {}

    def register(self, model: type[Payload], topic: str, *, version: int = 1,
                 upcasters: dict[int, Upcaster] | None = None) -> type[Payload]:
        name = model.__name__
        if name in self._types:
            raise ValueError(f"event type {name} registered twice")
        entry = EventType(name, model, topic, version, upcasters or {}, (model.__doc__ or "").strip(),
                          typed_envelope(name, model, version))
        self._types[name] = entry
        self._by_model[model] = entry
        self._fast = None
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
        return entry.envelope(type=entry.name, schema_version=entry.version, data=data, **meta)

    def topic_of(self, event: Envelope) -> str:
        return self._types[event.type].topic

    def encode(self, event: Envelope) -> bytes:
        body = event.wire_dict() if type(event) is Envelope else event.model_dump()
        return orjson.dumps(body)

    def _adapter(self) -> TypeAdapter[Any]:
        if self._fast is None:
            classes = tuple(t.envelope for t in self._types.values())
            union: Any = classes[0]
            if len(classes) > 1:
                union = Annotated[Union[classes], Field(discriminator="type")]  # noqa: UP007
            self._fast = TypeAdapter(union)
        return self._fast

    def _typed(self, raw: bytes) -> TypeAdapter[Any] | None:
        """The adapter of the one type the bytes name, found without parsing them: validating against a single
        envelope class skips the discriminated union's look-up (a third of a decode). The adapter checks the whole
        envelope, its `type` included, so a guess that is wrong only falls back to the union."""
        start = raw.find(b'"type":"')
        if start < 0:
            return None
        end = raw.find(b'"', start + 8)
        entry = self._types.get(raw[start + 8:end].decode("ascii", "replace")) if end > 0 else None
        if entry is None:
            return None
        adapter = self._typed_adapters.get(entry.name)
        if adapter is None:
            adapter = self._typed_adapters[entry.name] = TypeAdapter(entry.envelope)
        return adapter

    def decode(self, raw: bytes | None) -> Envelope:
        if raw is None:
            raise EventDecodeError("empty message")
        if b"\\u0000" in raw:
            raise EventDecodeError("text must not contain NUL characters")
        if self._types:
            typed = self._typed(raw)
            if typed is not None:
                try:
                    return typed.validate_json(raw, context=NUL_CHECKED)
                except ValidationError:
                    pass  # not that type after all, an older version, or invalid: the paths below say which
            try:
                return self._adapter().validate_json(raw, context=NUL_CHECKED)
            except ValidationError:
                pass  # an older schema version, or invalid: the dict path upcasts or says what is wrong
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
            return entry.envelope.model_validate({**body, "schema_version": version, "data": data})
        except ValidationError as e:
            raise EventDecodeError(f"invalid {entry.name}: {e.errors(include_url=False)}") from e
