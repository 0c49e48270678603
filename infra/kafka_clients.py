"""Every Kafka client of the platform is built here (producers, consumers, admin clients, and the Faust app's
broker credentials), so all of them honour the same connection settings: plaintext for the embedded Tansu, SASL
(PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) and/or TLS for a production Apache Kafka (OPSLEDGER_KAFKA_SECURITY_PROTOCOL,
_SASL_MECHANISM, _SASL_USERNAME, _SASL_PASSWORD, _SSL_CAFILE, _SSL_CERTFILE, _SSL_KEYFILE).

Callers pass the bootstrap servers as they always did; the security settings are the process's own (read from the
environment once, like every setting), unless a caller passes `security` explicitly.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.helpers import create_ssl_context

from infra.settings import Settings, get_settings


@dataclass(frozen=True)
class KafkaSecurity:
    protocol: str = "PLAINTEXT"  # PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
    mechanism: str = "PLAIN"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None

    @classmethod
    def of(cls, settings: Settings) -> KafkaSecurity:
        password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else None
        return cls(settings.kafka_security_protocol, settings.kafka_sasl_mechanism,
                   settings.kafka_sasl_username or None, password, settings.kafka_ssl_cafile or None,
                   settings.kafka_ssl_certfile or None, settings.kafka_ssl_keyfile or None)

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.protocol.endswith("SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        return create_ssl_context(cafile=self.cafile, certfile=self.certfile, keyfile=self.keyfile)

    def options(self) -> dict[str, Any]:
        """aiokafka's keyword arguments for this connection."""
        found: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            found["ssl_context"] = self.ssl_context()
        if self.sasl:
            found.update(sasl_mechanism=self.mechanism, sasl_plain_username=self.username,
                         sasl_plain_password=self.password)
        return found


def _security(security: KafkaSecurity | None) -> KafkaSecurity:
    return security if security is not None else KafkaSecurity.of(get_settings())


def consumer(bootstrap: str, *topics: str, security: KafkaSecurity | None = None, **options: Any
             ) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, **_security(security).options(), **options)


def producer(bootstrap: str, *, security: KafkaSecurity | None = None, **options: Any) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=bootstrap, **_security(security).options(), **options)


def admin(bootstrap: str, *, security: KafkaSecurity | None = None, **options: Any) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(bootstrap_servers=bootstrap, **_security(security).options(), **options)


def faust_broker(settings: Settings) -> dict[str, Any]:
    """The Faust app's broker settings: its URL and, on a secured Kafka, its credentials."""
    security = KafkaSecurity.of(settings)
    found: dict[str, Any] = {"broker": f"kafka://{settings.kafka_bootstrap_servers}"}
    if security.sasl:
        import faust

        found["broker_credentials"] = faust.SASLCredentials(username=security.username, password=security.password,
                                                            mechanism=security.mechanism,
                                                            ssl_context=security.ssl_context())
    elif security.tls:
        import faust

        found["broker_credentials"] = faust.SSLCredentials(security.ssl_context())
    return found
