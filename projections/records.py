"""What a projection receives: broker records, decoded where they could be."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from psycopg import sql

from schemas.envelope import Envelope


class Record(NamedTuple):  # immutable, and built in a third of a frozen dataclass's time (one per record)
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    event: Envelope | None  # None when the value is not a valid event


Tables = Mapping[str, sql.Identifier]
