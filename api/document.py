"""The OpenAPI document as the server really reads requests: what FastAPI's generation gets wrong is corrected here.

An optional header parameter typed `str | None` comes out as `anyOf: [string, null]`, but a header cannot carry a
JSON null: a client (or Schemathesis) following the document sends the text `null`, which the server reads as a
value and refuses. An absent header is what None means, so an optional header's schema is its value's alone.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI


def optional_headers_without_null(doc: dict[str, Any]) -> None:
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                schema = parameter.get("schema", {})
                branches = schema.get("anyOf")
                if parameter.get("in") != "header" or parameter.get("required") or not branches:
                    continue
                kept = [b for b in branches if b.get("type") != "null"]
                if len(kept) == 1 and len(kept) < len(branches):
                    del schema["anyOf"]
                    schema.update({k: v for k, v in kept[0].items() if k not in schema})


def install(app: FastAPI) -> None:
    """Correct the document FastAPI generates (and caches) each time it is asked for."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        doc = generate()
        optional_headers_without_null(doc)
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
