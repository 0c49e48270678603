"""What a projection receives: broker records, decoded where they could be."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from psycopg import sql

from schemas.envelope import Envelope


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    event: Envelope | None  # None when the value is not a valid event


Tables = Mapping[str, sql.Identifier]
