"""Read-your-writes: a command returns where its events landed; a read waits until projections applied them."""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import Sequence

from psycopg_pool import AsyncConnectionPool

from api.problems import Problem
from producers.producer import Position

HEADER = "Opsledger-Consistency"
APPLIED = "SELECT next_offset FROM projection_offsets WHERE projection = %s AND topic = %s AND partition = %s"


def encode_token(positions: Sequence[Position]) -> str:
    text = ",".join(f"{p.topic}:{p.partition}:{p.offset}" for p in positions)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_token(token: str) -> list[Position]:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        positions = []
        for part in text.split(","):
            topic, partition, offset = part.rsplit(":", 2)
            positions.append(Position(topic, int(partition), int(offset)))
        if not positions or len(positions) > 1000:
            raise ValueError("token must name 1 to 1000 positions")
        return positions
    except (ValueError, binascii.Error, UnicodeDecodeError) as e:
        raise Problem(400, f"The consistency token is not valid: {e}") from e


async def wait_applied(pool: AsyncConnectionPool, projection: str, topics: Sequence[str],
                       positions: Sequence[Position], timeout_s: float) -> None:
    """Return once `projection` has applied every position on its topics; 504 problem after timeout_s."""
    relevant = [p for p in positions if p.topic in topics]
    deadline = time.monotonic() + timeout_s
    delay = 0.002
    async with pool.connection() as conn:
        while relevant:
            pending = []
            for p in relevant:
                row = await (await conn.execute(APPLIED, (projection, p.topic, p.partition))).fetchone()
                if row is None or row[0] <= p.offset:
                    pending.append(p)
            relevant = pending
            if not relevant:
                return
            if time.monotonic() >= deadline:
                raise Problem(504, f"The {projection} read model has not caught up with the given consistency "
                                   f"token within {timeout_s:g} s; retry the read.", title="Not yet consistent")
            await conn.rollback()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.025)
