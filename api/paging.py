"""Opaque keyset cursors: base64url of the last row's sort key."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Annotated, Any

import orjson
from pydantic import Field

from api.filters import Where
from api.problems import Problem

INVALID = "The cursor is not valid; use next_cursor from a previous page."
CURSOR_FORMAT = "opsledger-cursor"  # the document's word for "a next_cursor this list answered", not any base64url
Cursor = Annotated[str, Field(max_length=500, pattern=r"^[A-Za-z0-9_-]*$", json_schema_extra={"format": CURSOR_FORMAT},
                              description="next_cursor of the previous page of this list (opaque)")]


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key), default=str)).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        key = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, orjson.JSONDecodeError) as e:
        raise Problem(400, INVALID) from e
    if not isinstance(key, list) or len(key) != arity:
        raise Problem(400, INVALID)
    return key


def newest_first(where: Where, cursor: str | None, columns: str) -> None:
    """Keyset paging, newest first, on `columns` = "<time column>, <uuid column>": only rows before the cursor."""
    if cursor:
        at, last = decode_cursor(cursor, 2)
        try:
            where.add(f"({columns}) < (%s, %s)", datetime.fromisoformat(str(at)), uuid.UUID(str(last)))
        except ValueError as e:
            raise Problem(400, INVALID) from e


def time_cursor(at: datetime, last: uuid.UUID) -> str:
    """The cursor of a newest_first page's last row."""
    return encode_cursor(at.isoformat(), str(last))
