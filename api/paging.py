"""Opaque keyset cursors: base64url of the last row's sort key."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from api.problems import Problem


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key), default=str)).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        key = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, orjson.JSONDecodeError) as e:
        raise Problem(400, "The cursor is not valid; use next_cursor from a previous page.") from e
    if not isinstance(key, list) or len(key) != arity:
        raise Problem(400, "The cursor is not valid; use next_cursor from a previous page.")
    return key
