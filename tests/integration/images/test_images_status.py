"""The images status asks the broker for the log's ends at most every OPSLEDGER_READY_CACHE_S, whoever calls (it is
open to every role, and each question starts a consumer), and answers 503 problem+json while the broker is away."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from infra import kafka_clients
from infra.entry.embedded import EmbeddedBroker, start_broker
from schemas.topics import IMAGE_UPLOADS
from tests.helpers.support import Backbone, Stack, running_stack

CACHE_S = 3.0


@dataclass
class Alone:
    stack: Stack
    broker: EmbeddedBroker


@pytest.fixture(scope="module")
def alone(backbone: Backbone, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alone]:
    """An API on a broker and a database of its own, with no projection: the images lag is every record sent."""
    from infra.entry.components import prepare
    from infra.settings import Settings

    root: Path = tmp_path_factory.mktemp("images-status")
    name = f"images_status_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(backbone.database_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    broker = start_broker(log_path=root / "broker.log")
    try:
        own = Backbone(broker.bootstrap, make_conninfo(backbone.database_url, dbname=name))
        asyncio.run(prepare(Settings.model_validate({"KAFKA_BOOTSTRAP_SERVERS": own.bootstrap,
                                                     "DATABASE_URL": own.database_url})))
        with running_stack(own, root / "stack", ("api",), OPSLEDGER_READY_CACHE_S=str(CACHE_S)) as stack:
            yield Alone(stack, broker)
    finally:
        broker.stop()


async def send_upload_record(bootstrap: str) -> None:
    """One more record on the uploads topic (nothing consumes it here: only the log's end moves)."""
    producer = kafka_clients.producer(bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(IMAGE_UPLOADS, b"{}", key=b"status-test")
    finally:
        await producer.stop()


def lag(client: httpx.Client) -> int:
    answer = client.get("/api/images/status")
    assert answer.status_code == 200, answer.text
    return int(answer.json()["projection_lag"])


def test_the_log_is_asked_once_per_window_and_a_broker_away_is_a_503(alone: Alone) -> None:
    with httpx.Client(base_url=alone.stack.api_url, headers=alone.stack.user("viewer"), timeout=30) as viewer:
        asyncio.run(send_upload_record(alone.broker.bootstrap))
        time.sleep(CACHE_S)  # whatever the stack's start asked is stale now
        before = lag(viewer)
        asked = time.monotonic()
        asyncio.run(send_upload_record(alone.broker.bootstrap))
        assert lag(viewer) == before, "a second call within the window asked the broker again"
        assert time.monotonic() - asked < CACHE_S, "too slow to tell: the window had passed"
        time.sleep(CACHE_S)
        assert lag(viewer) == before + 1  # after the window, asked again

        alone.broker.stop()
        time.sleep(CACHE_S)
        for _ in range(2):  # the failure is kept for the window too: both answered without waiting on the broker
            refused = viewer.get("/api/images/status")
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["status"] == 503 and int(refused.headers["Retry-After"]) >= 1
