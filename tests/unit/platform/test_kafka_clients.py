"""Every Kafka client is built by infra.kafka_clients and so honours SASL and TLS; the Tansu-only Faust patches are
applied only on Tansu."""

from __future__ import annotations

import ast
import asyncio
import subprocess
import sys
from pathlib import Path

import faust
import pytest
from pydantic import SecretStr

from infra import kafka_clients
from infra.kafka import IDLE_FETCHER_WAKE_MS
from infra.kafka_clients import KafkaSecurity
from infra.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
RUNTIME = ("api", "infra", "processors", "projections", "producers", "schemas")
CLIENT_CLASSES = {"AIOKafkaConsumer", "AIOKafkaProducer", "AIOKafkaAdminClient"}
SASL = KafkaSecurity("SASL_SSL", "SCRAM-SHA-512", "opsledger", "not-a-real-password")


def test_no_runtime_module_builds_a_kafka_client_of_its_own() -> None:
    """A client built elsewhere would connect without the configured SASL and TLS."""
    offenders = []
    for package in RUNTIME:
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "kafka_clients.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call):
                    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                    if name in CLIENT_CLASSES:
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    assert not offenders, offenders


def test_consumers_producers_and_admin_clients_carry_sasl_and_tls() -> None:
    async def build() -> list[object]:
        return [kafka_clients.consumer("kafka:9092", security=SASL)._client,
                kafka_clients.producer("kafka:9092", security=SASL).client,
                kafka_clients.admin("kafka:9092", security=SASL)._client]

    for client in asyncio.run(build()):
        assert client._security_protocol == "SASL_SSL"  # type: ignore[attr-defined]
        assert client._sasl_mechanism == "SCRAM-SHA-512"  # type: ignore[attr-defined]
        assert client._sasl_plain_username == "opsledger"  # type: ignore[attr-defined]
        assert client._ssl_context is not None  # type: ignore[attr-defined]


def test_settings_give_the_security_and_sasl_needs_credentials() -> None:
    settings = Settings.model_validate({"OPSLEDGER_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                                        "OPSLEDGER_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
                                        "OPSLEDGER_KAFKA_SASL_USERNAME": "svc",
                                        "OPSLEDGER_KAFKA_SASL_PASSWORD": SecretStr("pw")})
    security = KafkaSecurity.of(settings)
    assert security.options() == {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-256",
                                  "sasl_plain_username": "svc", "sasl_plain_password": "pw"}
    assert "pw" not in repr(security)
    credentials = kafka_clients.faust_broker(settings)["broker_credentials"]
    assert isinstance(credentials, faust.SASLCredentials) and credentials.username == "svc"
    with pytest.raises(ValueError, match="SASL"):
        Settings.model_validate({"OPSLEDGER_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"})
    assert "broker_credentials" not in kafka_clients.faust_broker(Settings())


@pytest.mark.parametrize(("broker", "patched"), [("tansu", True), ("apache", False)])
def test_the_tansu_patches_of_faust_are_applied_only_on_tansu(broker: str, patched: bool) -> None:
    probe = ("from faust.transport.drivers import aiokafka as d; original = d.AIOKafkaConsumerThread._highwaters;"
             "from infra.settings import Settings; from processors.app import create_app;"
             f"create_app(Settings.model_validate({{'OPSLEDGER_KAFKA_BROKER': '{broker}',"
             " 'KAFKA_BOOTSTRAP_SERVERS': '127.0.0.1:9'}));"
             "print(d.AIOKafkaConsumerThread._highwaters is not original)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == str(patched)


@pytest.mark.parametrize("broker", ["tansu", "apache"])
def test_the_processors_fetch_routine_does_not_wake_five_times_a_second(broker: str) -> None:
    """aiokafka's default consumer_timeout_ms (200) woke an idle processor's fetch routine five times a second, each
    time over every partition it is assigned; the worker consumer Faust builds waits as long as the projections'."""
    probe = ("import asyncio; from infra.settings import Settings; from processors.app import create_app;"
             f"app = create_app(Settings.model_validate({{'OPSLEDGER_KAFKA_BROKER': '{broker}',"
             " 'KAFKA_BOOTSTRAP_SERVERS': '127.0.0.1:9'}));"
             "\nasync def main():\n    c = app.consumer._thread._create_worker_consumer(app.transport)\n"
             "    print(c._consumer_timeout)\n    await c.stop()\nasyncio.run(main())")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout.strip().splitlines()[-1]) == IDLE_FETCHER_WAKE_MS / 1000
