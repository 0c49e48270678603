"""The outbox group-commits: appends made while a commit is in flight share the next one, and every caller gets the
seqs of its own rows, in order, once they are committed; when PostgreSQL fails, every waiting caller is told."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from infra.outbox import Outbox, OutboxUnavailable, Relay
from infra.producer import EventProducer
from schemas.catalog import REGISTRY
from schemas.envelope import Envelope
from schemas.identity.events import AuditRecorded
from tests.helpers.support import Backbone


def event(n: int) -> Envelope:
    return REGISTRY.event(AuditRecorded(action=f"POST /test/{n}", outcome="succeeded", status=202),
                          source="tests", subject=f"caller-{n}")


@pytest.fixture
async def private_outbox(backbone: Backbone) -> AsyncIterator[tuple[Outbox, AsyncConnectionPool]]:
    """An Outbox over a table of its own (a schema first on the search path), so the stack's relay never sees it."""
    schema = f"outbox_test_{uuid.uuid4().hex[:8]}"
    async with await psycopg.AsyncConnection.connect(backbone.database_url, autocommit=True) as conn:
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(f"CREATE TABLE {schema}.outbox (LIKE public.outbox INCLUDING ALL)")
    pool = AsyncConnectionPool(backbone.database_url, min_size=1, max_size=4, open=False,
                               kwargs={"options": f"-c search_path={schema},public"})
    await pool.open(wait=True)
    producer = EventProducer(backbone.bootstrap)
    relay = Relay(backbone.database_url, pool, producer)  # never run: only woken
    try:
        yield Outbox(pool, relay), pool
    finally:
        await producer.stop()
        await pool.close()
        async with await psycopg.AsyncConnection.connect(backbone.database_url, autocommit=True) as conn:
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")


async def test_concurrent_appends_share_commits_and_each_gets_its_own_seqs(
        private_outbox: tuple[Outbox, AsyncConnectionPool]) -> None:
    outbox, pool = private_outbox
    batches = [[event(n * 10 + i) for i in range(1 + n % 3)] for n in range(60)]
    answers = await asyncio.gather(*(outbox.append(batch) for batch in batches))
    assert 1 <= outbox.commits < len(batches)  # group commit: fewer transactions than appends
    async with pool.connection() as conn:
        rows = dict(await (await conn.execute("SELECT seq, event_id FROM outbox")).fetchall())
    assert len(rows) == sum(map(len, batches))
    for batch, seqs in zip(batches, answers, strict=True):
        assert seqs == sorted(seqs)
        assert [rows[seq] for seq in seqs] == [e.event_id for e in batch]
    alone = await outbox.append([event(999)])  # nothing else in flight: committed at once, on its own
    assert len(alone) == 1 and outbox.commits >= 2
    assert await outbox.append([]) == []


async def test_every_waiting_caller_hears_when_postgresql_fails(
        private_outbox: tuple[Outbox, AsyncConnectionPool]) -> None:
    outbox, pool = private_outbox
    await pool.close()  # the database is gone for this outbox
    answers = await asyncio.gather(*(outbox.append([event(n)]) for n in range(5)), return_exceptions=True)
    assert all(isinstance(answer, OutboxUnavailable) for answer in answers), answers
