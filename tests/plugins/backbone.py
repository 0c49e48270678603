"""Plugin: one backbone per test run — the embedded Tansu broker and PostgreSQL, or (OPSLEDGER_TEST_BACKEND=containers)
Apache Kafka and PostgreSQL in testcontainers."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.support import Backbone


def _prepare(backbone: Backbone) -> None:
    from infra.entry.components import prepare
    from infra.settings import Settings

    settings = Settings.model_validate({"KAFKA_BOOTSTRAP_SERVERS": backbone.bootstrap,
                                        "DATABASE_URL": backbone.database_url})
    asyncio.run(prepare(settings))


@pytest.fixture(scope="session")
def backbone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backbone]:
    if os.environ.get("OPSLEDGER_TEST_BACKEND") == "containers":
        from testcontainers.kafka import KafkaContainer
        from testcontainers.postgres import PostgresContainer

        with KafkaContainer("apache/kafka:3.9.1").with_kraft() as kafka, PostgresContainer("postgres:17") as pg:
            found = Backbone(kafka.get_bootstrap_server(), pg.get_connection_url(driver=None))
            _prepare(found)
            yield found
        return
    from infra.entry.embedded import start_broker, start_database

    root = tmp_path_factory.mktemp("backbone")
    database = start_database(root / "pg")
    broker = start_broker(log_path=root / "broker.log")
    try:
        found = Backbone(broker.bootstrap, database.url)
        _prepare(found)
        yield found
    finally:
        broker.stop()
        database.stop()


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")
