"""One Settings object, read from the environment once; groups of settings with a prefix of their own (the
notifier's) are nested in it."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_CHARS = 32


class NotifySettings(BaseSettings):
    """The notifier's group (env prefix OPSLEDGER_NOTIFY_). No default secrets; a webhook URL needs a strong one."""

    model_config = SettingsConfigDict(env_prefix="OPSLEDGER_NOTIFY_", extra="ignore")

    smtp_host: str = ""  # empty: no email channel
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str = ""
    smtp_password: SecretStr | None = None
    smtp_from: str = ""
    smtp_to: str = ""  # comma-separated
    smtp_starttls: bool = True
    smtp_timeout_s: float = Field(default=15.0, gt=0)

    webhook_url: str = ""  # empty: no webhook channel
    webhook_secret: SecretStr | None = None
    webhook_timeout_s: float = Field(default=10.0, gt=0)

    group_by: str = "site,device"  # comma-separated label names; empty: one group for everything
    group_wait_s: float = Field(default=30.0, ge=0)
    group_interval_s: float = Field(default=300.0, gt=0)
    repeat_interval_s: float = Field(default=4 * 3600.0, gt=0)

    max_attempts: int = Field(default=8, ge=1, le=100)
    backoff_base_s: float = Field(default=2.0, gt=0)
    backoff_max_s: float = Field(default=600.0, gt=0)
    poll_interval_s: float = Field(default=1.0, gt=0)
    # lifecycle events older than this when first seen are recorded but not sent (a new channel reading an old log)
    max_event_age_s: float = Field(default=24 * 3600.0, gt=0)
    # where SilenceCreated/Expired/Deleted travel; empty: no mute silences are applied
    silences_topic: str = ""

    @model_validator(mode="after")
    def _complete(self) -> NotifySettings:
        if self.webhook_url:
            secret = self.webhook_secret.get_secret_value() if self.webhook_secret else ""
            if len(secret) < MIN_SECRET_CHARS:
                raise ValueError(f"OPSLEDGER_NOTIFY_WEBHOOK_SECRET must be at least {MIN_SECRET_CHARS} characters "
                                 "when a webhook URL is set")
            if not self.webhook_url.startswith(("https://", "http://")):
                raise ValueError("OPSLEDGER_NOTIFY_WEBHOOK_URL must be an http(s) URL")
        if self.smtp_host and (not self.smtp_from or not self.recipients):
            raise ValueError("OPSLEDGER_NOTIFY_SMTP_FROM and OPSLEDGER_NOTIFY_SMTP_TO are required with an SMTP host")
        if self.smtp_user and self.smtp_password is None:
            raise ValueError("OPSLEDGER_NOTIFY_SMTP_PASSWORD is required with an SMTP user")
        if self.repeat_interval_s < self.group_interval_s:
            raise ValueError("repeat_interval (OPSLEDGER_NOTIFY_REPEAT_INTERVAL_S) must be at least group_interval")
        return self

    @property
    def recipients(self) -> list[str]:
        return [a.strip() for a in self.smtp_to.split(",") if a.strip()]

    @property
    def group_labels(self) -> tuple[str, ...]:
        return tuple(n.strip() for n in self.group_by.split(",") if n.strip())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    # Where to find the backbone; empty means "start the embedded one" (opsledger up only).
    kafka_bootstrap_servers: str = Field(default="", alias="KAFKA_BOOTSTRAP_SERVERS")
    database_url: str = Field(default="", alias="DATABASE_URL")
    # Apache Kafka supports idempotent producers; the embedded Tansu broker does not.
    kafka_idempotence: bool = Field(default=False, alias="OPSLEDGER_KAFKA_IDEMPOTENCE")
    # how long a consumer fetch may wait for data: Tansu waits it out even when data arrives (see processors/app.py)
    kafka_fetch_max_wait_ms: int = Field(default=20, ge=1, le=5000, alias="OPSLEDGER_KAFKA_FETCH_MAX_WAIT_MS")
    # ... and how long once its topics have been quiet for 2 s (infra.kafka.FetchPacing): fewer empty fetches for an
    # idle stack, at the price of this much latency for the first record after a quiet spell (0: always the above)
    kafka_idle_fetch_wait_ms: int = Field(default=500, ge=0, le=5000, alias="OPSLEDGER_KAFKA_IDLE_FETCH_WAIT_MS")
    topic_partitions: int = Field(default=4, ge=1, le=256, alias="OPSLEDGER_TOPIC_PARTITIONS")
    topic_replication: int = Field(default=1, ge=1, le=5, alias="OPSLEDGER_TOPIC_REPLICATION")
    # Short in dev so consumer groups join fast (Tansu waits half the session timeout).
    kafka_session_timeout_s: float = Field(default=2.0, gt=0, alias="OPSLEDGER_KAFKA_SESSION_TIMEOUT_S")
    # The processors' Faust levers (processors/faust_patches.py, BENCHMARKS.md issue 11); all off = stock Faust.
    # cython_optimizations only pays when two agents read one topic (a record decoded once for both); none does
    # since alerts are routed in-process, it measured no better, and Faust calls it unproven: off.
    faust_eager_drain: bool = Field(default=True, alias="OPSLEDGER_FAUST_EAGER_DRAIN")
    faust_cython_optimizations: bool = Field(default=False, alias="OPSLEDGER_FAUST_CYTHON_OPTIMIZATIONS")
    faust_uvloop: bool = Field(default=True, alias="OPSLEDGER_FAUST_UVLOOP")

    data_dir: Path = Field(default=Path(".opsledger"), alias="OPSLEDGER_DATA_DIR")
    files_dir: Path | None = Field(default=None, alias="OPSLEDGER_FILES_DIR")
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1, alias="OPSLEDGER_MAX_UPLOAD_BYTES")
    allowed_upload_types: str = Field(
        default="image/jpeg,image/png,image/webp,application/pdf,text/plain,text/csv",
        alias="OPSLEDGER_ALLOWED_UPLOAD_TYPES",
    )
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, alias="OPSLEDGER_MAX_BODY_BYTES")

    api_host: str = Field(default="127.0.0.1", alias="OPSLEDGER_API_HOST")
    api_port: int = Field(default=8000, ge=0, le=65535, alias="OPSLEDGER_API_PORT")
    consistency_timeout_s: float = Field(default=5.0, gt=0, le=60, alias="OPSLEDGER_CONSISTENCY_TIMEOUT_S")
    ready_max_lag: int = Field(default=10_000, ge=0, alias="OPSLEDGER_READY_MAX_LAG")

    processor_id: str = Field(default="opsledger-processors", alias="OPSLEDGER_PROCESSOR_ID")
    # Ingress limit lines: "start-end:dBmV" for every node, "node@start-end:dBmV" for one node, comma-separated.
    ingress_limits: str = Field(
        default="5-15:-10,15-42:-20,42-85:-25,85-204:-30", alias="OPSLEDGER_INGRESS_LIMITS"
    )
    log_level: str = Field(default="INFO", alias="OPSLEDGER_LOG_LEVEL")

    # Cylinders: re-test interval, how far ahead to warn, when a cylinder at a customer becomes a lost candidate.
    retest_years: int = Field(default=10, ge=1, le=20, alias="OPSLEDGER_RETEST_YEARS")
    retest_warn_days: int = Field(default=30, ge=0, le=365, alias="OPSLEDGER_RETEST_WARN_DAYS")
    overdue_days: int = Field(default=60, ge=1, le=3650, alias="OPSLEDGER_OVERDUE_DAYS")
    cylinder_timer_interval_s: float = Field(default=86400.0, gt=0, alias="OPSLEDGER_CYLINDER_TIMER_INTERVAL_S")

    # Identity. No default secret: the API refuses to start without one (`opsledger up` makes a random one).
    jwt_secret: SecretStr | None = Field(default=None, alias="OPSLEDGER_JWT_SECRET")
    jwt_issuer: str = Field(default="opsledger", alias="OPSLEDGER_JWT_ISSUER")
    jwt_audience: str = Field(default="opsledger-api", alias="OPSLEDGER_JWT_AUDIENCE")
    access_token_ttl_s: int = Field(default=900, ge=30, le=3600, alias="OPSLEDGER_ACCESS_TOKEN_TTL_S")
    refresh_token_ttl_s: int = Field(default=14 * 24 * 3600, ge=300, alias="OPSLEDGER_REFRESH_TOKEN_TTL_S")
    login_rate: str = Field(default="5/minute", alias="OPSLEDGER_LOGIN_RATE")
    client_rate: str = Field(default="1200/minute", alias="OPSLEDGER_CLIENT_RATE")
    # scans per caller (user or API key), counted scan by scan whatever the batch size: a handheld scans about one a
    # second; an offline buffer sent at once is a few hundred
    scan_rate: str = Field(default="6000/minute", alias="OPSLEDGER_SCAN_RATE")
    cors_origins: str = Field(default="", alias="OPSLEDGER_CORS_ORIGINS")
    trust_forwarded: bool = Field(default=False, alias="OPSLEDGER_TRUST_FORWARDED")
    # Live push (/api/stream, /ws): heartbeat period, per-client queue (a client that falls this far behind is
    # disconnected and resumes from its last event id), and the most streaming clients per API process.
    stream_heartbeat_s: float = Field(default=15.0, gt=0, le=300, alias="OPSLEDGER_STREAM_HEARTBEAT_S")
    stream_queue: int = Field(default=1000, ge=1, le=100_000, alias="OPSLEDGER_STREAM_QUEUE")
    stream_max_clients: int = Field(default=1000, ge=1, le=100_000, alias="OPSLEDGER_STREAM_MAX_CLIENTS")

    # Device and camera secrets: Fernet keys, comma-separated; the first encrypts, all decrypt (rotation). No default:
    # `opsledger up` makes one per data directory; without one, no device or camera secret can be stored or read.
    secrets_keys: SecretStr | None = Field(default=None, alias="OPSLEDGER_SECRETS_KEYS")
    # Pollers: several `opsledger pollers` processes split the devices by a stable hash of the device id mod count.
    poller_count: int = Field(default=1, ge=1, le=1024, alias="OPSLEDGER_POLLER_COUNT")
    poller_index: int = Field(default=0, ge=0, alias="OPSLEDGER_POLLER_INDEX")
    poller_reload_s: float = Field(default=10.0, gt=0, le=3600, alias="OPSLEDGER_POLLER_RELOAD_S")
    poller_deadline_s: float = Field(default=30.0, gt=0, le=600, alias="OPSLEDGER_POLLER_DEADLINE_S")
    poller_max_concurrent: int = Field(default=64, ge=1, le=10_000, alias="OPSLEDGER_POLLER_MAX_CONCURRENT")
    # GET /api/topology leaves out an LLDP link its device has not reported for this many of its poll intervals.
    topology_stale_intervals: float = Field(default=3.0, gt=0, le=1000, alias="OPSLEDGER_TOPOLOGY_STALE_INTERVALS")
    snmp_timeout_s: float = Field(default=2.0, gt=0, le=60, alias="OPSLEDGER_SNMP_TIMEOUT_S")
    snmp_retries: int = Field(default=1, ge=0, le=5, alias="OPSLEDGER_SNMP_RETRIES")
    camera_probe_timeout_s: float = Field(default=5.0, gt=0, le=60, alias="OPSLEDGER_CAMERA_PROBE_TIMEOUT_S")
    # Discovery: the most addresses one sweep may cover, and how many it asks per second.
    discovery_max_hosts: int = Field(default=256, ge=1, le=65_536, alias="OPSLEDGER_DISCOVERY_MAX_HOSTS")
    discovery_rate_per_s: float = Field(default=50.0, gt=0, le=10_000, alias="OPSLEDGER_DISCOVERY_RATE_PER_S")

    # Alert notifications (email, signed webhook): their own prefix, read when Settings is built.
    notify: NotifySettings = Field(default_factory=NotifySettings)

    @field_validator("poller_index")
    @classmethod
    def _index_in_range(cls, index: int, info: ValidationInfo) -> int:
        count = info.data.get("poller_count", 1)
        if index >= count:
            raise ValueError("OPSLEDGER_POLLER_INDEX must be below OPSLEDGER_POLLER_COUNT")
        return index

    @field_validator("jwt_secret")
    @classmethod
    def _strong_secret(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None and len(secret.get_secret_value()) < 32:
            raise ValueError("OPSLEDGER_JWT_SECRET must be at least 32 characters")
        return secret

    @property
    def upload_dir(self) -> Path:
        return self.files_dir or self.data_dir / "files"

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def upload_types(self) -> frozenset[str]:
        return frozenset(t.strip() for t in self.allowed_upload_types.split(",") if t.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def env_names() -> set[str]:
    """Every environment variable the settings read, nested groups included (docker-compose is checked against
    this)."""
    notify = {f"OPSLEDGER_NOTIFY_{name.upper()}" for name in NotifySettings.model_fields}
    return {f.alias for f in Settings.model_fields.values() if f.alias} | notify
