"""One Settings object, read from the environment once; groups of settings with a prefix of their own (the
notifier's) are nested in it."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

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


class OidcSettings(BaseSettings):
    """External login with OpenID Connect (env prefix OPSLEDGER_OIDC_); off while `issuer` is empty."""

    model_config = SettingsConfigDict(env_prefix="OPSLEDGER_OIDC_", extra="ignore")

    issuer: str = ""  # exact: discovery's `issuer` and the ID tokens' `iss` must equal it
    discovery_url: str = ""  # default: issuer + /.well-known/openid-configuration
    client_id: str = ""
    client_secret: SecretStr | None = None  # none: a public client (PKCE only)
    redirect_uri: str = ""  # https://<api>/api/auth/oidc/callback, registered at the provider byte for byte
    scopes: str = "openid profile email"
    role_claim: str = "groups"  # a dotted path is allowed (realm_access.roles)
    role_mapping: str = ""  # claim value=role, comma-separated: opsledger-admins=admin,opsledger-ops=operator
    default_role: str = "viewer"  # for users nothing maps; empty: refuse them
    username_claim: str = "preferred_username"  # display only, never the account key
    allowed_algs: str = "RS256 PS256 ES256 EdDSA"
    fetch_userinfo: bool = False

    @model_validator(mode="after")
    def _complete(self) -> OidcSettings:
        if self.issuer and not (self.client_id and self.redirect_uri):
            raise ValueError("OPSLEDGER_OIDC_CLIENT_ID and OPSLEDGER_OIDC_REDIRECT_URI are required with an issuer")
        return self


class AnalyticsSettings(BaseSettings):
    """The analytics processor's group (env prefix OPSLEDGER_ANALYTICS_)."""

    model_config = SettingsConfigDict(env_prefix="OPSLEDGER_ANALYTICS_", extra="ignore")

    # points later than this (in the series' own time) after their minute are counted, not folded into rollups
    grace_s: int = Field(default=120, ge=0, le=86_400)
    # a series' state is written to the table's changelog every this many inputs (and when idle); what came after
    # its last checkpoint is read again from the source topic after a restart
    checkpoint_inputs: int = Field(default=15, ge=1, le=100_000)
    epoch_records: int = Field(default=5000, ge=10, le=10_000_000)  # records of a partition between marks
    capacity_threshold: float = Field(default=0.8, gt=0, le=1)  # "saturated": busier direction's utilisation
    capacity_horizon_days: int = Field(default=90, ge=1, le=730)
    signature_tolerance_s: float = Field(default=300.0, gt=0, le=3600)  # signed ML requests: clock skew allowed


class RetentionSettings(BaseSettings):
    """How long each level of the metric read models, and the event archive, are kept (env prefix
    OPSLEDGER_RETENTION_). Enforced by dropping whole time partitions (`opsledger retention`, and `opsledger up`
    every `interval_s`). 0 keeps a level for ever."""

    model_config = SettingsConfigDict(env_prefix="OPSLEDGER_RETENTION_", extra="ignore")

    raw_hours: float = Field(default=48, ge=0)
    minute_days: float = Field(default=30, ge=0)
    five_minute_days: float = Field(default=90, ge=0)
    hour_days: float = Field(default=730, ge=0)
    archive_days: float = Field(default=365, ge=0)  # older archive partitions are exported to a file, then dropped
    archive_dir: Path | None = None  # where exported archive partitions go; default <data dir>/archive
    interval_s: float = Field(default=3600, gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    # Where to find the backbone; empty means "start the embedded one" (opsledger up only).
    kafka_bootstrap_servers: str = Field(default="", alias="KAFKA_BOOTSTRAP_SERVERS")
    database_url: str = Field(default="", alias="DATABASE_URL")
    # Apache Kafka supports idempotent producers; the embedded Tansu broker does not.
    kafka_idempotence: bool = Field(default=False, alias="OPSLEDGER_KAFKA_IDEMPOTENCE")
    # which broker this is: the processors patch Faust for Tansu's sharp edges only on Tansu
    kafka_broker: Literal["tansu", "apache"] = Field(default="tansu", alias="OPSLEDGER_KAFKA_BROKER")
    # How every Kafka client connects (infra.kafka_clients): SASL and/or TLS on a production Kafka.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", alias="OPSLEDGER_KAFKA_SECURITY_PROTOCOL")
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        default="PLAIN", alias="OPSLEDGER_KAFKA_SASL_MECHANISM")
    kafka_sasl_username: str = Field(default="", alias="OPSLEDGER_KAFKA_SASL_USERNAME")
    kafka_sasl_password: SecretStr | None = Field(default=None, alias="OPSLEDGER_KAFKA_SASL_PASSWORD")
    kafka_ssl_cafile: str = Field(default="", alias="OPSLEDGER_KAFKA_SSL_CAFILE")
    kafka_ssl_certfile: str = Field(default="", alias="OPSLEDGER_KAFKA_SSL_CERTFILE")
    kafka_ssl_keyfile: str = Field(default="", alias="OPSLEDGER_KAFKA_SSL_KEYFILE")
    # how long a consumer fetch may wait for data: Tansu waits it out even when data arrives (see processors/app.py)
    kafka_fetch_max_wait_ms: int = Field(default=20, ge=1, le=5000, alias="OPSLEDGER_KAFKA_FETCH_MAX_WAIT_MS")
    # ... and, once its topics have been quiet for 2 s, how often it asks the broker for end offsets while its fetches
    # are held (infra.fetch_gate), twice this after 10 s of quiet: the most a first record after a quiet spell waits at
    # each hop (0: never held)
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
    # reads waiting for a consistency token at once per API process (the pool has 20 connections)
    consistency_max_waiters: int = Field(default=64, ge=1, le=10_000, alias="OPSLEDGER_CONSISTENCY_MAX_WAITERS")
    ready_max_lag: int = Field(default=10_000, ge=0, alias="OPSLEDGER_READY_MAX_LAG")
    ready_cache_s: float = Field(default=5.0, ge=0, le=300, alias="OPSLEDGER_READY_CACHE_S")

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
    # a sign-in ends this long after it began, however often it is refreshed (an absolute session lifetime)
    session_max_s: int = Field(default=12 * 3600, ge=60, le=90 * 24 * 3600, alias="OPSLEDGER_SESSION_MAX_S")
    # how long an admin-issued one-time password reset token works
    reset_token_ttl_s: int = Field(default=3600, ge=60, le=7 * 24 * 3600, alias="OPSLEDGER_RESET_TOKEN_TTL_S")
    login_rate: str = Field(default="5/minute", alias="OPSLEDGER_LOGIN_RATE")  # per username and client address
    # failed logins per account from anywhere, in tiers: each one used up makes the account wait longer (back-off)
    account_login_backoff: str = Field(default="5/minute,10/10 minutes,20/hour,50/day",
                                       alias="OPSLEDGER_ACCOUNT_LOGIN_BACKOFF")
    client_rate: str = Field(default="1200/minute", alias="OPSLEDGER_CLIENT_RATE")  # per signed-in principal
    # every request per client address, counted before authentication (so bad credentials are limited too), and
    # the credentials that failed per address (each one a database look-up), refused before the look-up
    address_rate: str = Field(default="3000/minute", alias="OPSLEDGER_ADDRESS_RATE")
    auth_failure_rate: str = Field(default="30/minute", alias="OPSLEDGER_AUTH_FAILURE_RATE")
    # failed logins per client address whatever the usernames (password spraying), refused before the password is
    # verified (each verification is an argon2id hash: 19 MiB and tens of milliseconds of a core)
    login_failure_rate: str = Field(default="30/minute", alias="OPSLEDGER_LOGIN_FAILURE_RATE")
    # where limiter state lives: memory:// (this process) or redis://host:port/db (shared by every API process)
    rate_limit_storage: str = Field(default="memory://", alias="OPSLEDGER_RATE_LIMIT_STORAGE")
    # scans per caller (user or API key), counted scan by scan whatever the batch size: a handheld scans about one a
    # second; an offline buffer sent at once is a few hundred
    scan_rate: str = Field(default="6000/minute", alias="OPSLEDGER_SCAN_RATE")
    # Self-registration (POST /api/auth/register): off by default; when on, new accounts wait for an admin's approval.
    allow_registration: bool = Field(default=False, alias="OPSLEDGER_ALLOW_REGISTRATION")
    cors_origins: str = Field(default="", alias="OPSLEDGER_CORS_ORIGINS")
    trust_forwarded: bool = Field(default=False, alias="OPSLEDGER_TRUST_FORWARDED")
    # with trust_forwarded: how many proxies of ours append to X-Forwarded-For (the client is that many from the right)
    trusted_proxy_hops: int = Field(default=1, ge=1, le=10, alias="OPSLEDGER_TRUSTED_PROXY_HOPS")
    # Live push (/api/stream, /ws): heartbeat period, per-client queue (a client that falls this far behind is
    # disconnected and resumes from its last event id), and the most streaming clients per API process.
    stream_heartbeat_s: float = Field(default=15.0, gt=0, le=300, alias="OPSLEDGER_STREAM_HEARTBEAT_S")
    stream_queue: int = Field(default=1000, ge=1, le=100_000, alias="OPSLEDGER_STREAM_QUEUE")
    stream_max_clients: int = Field(default=1000, ge=1, le=100_000, alias="OPSLEDGER_STREAM_MAX_CLIENTS")
    # streams one user or key may hold open on a process, and how often a stream's credential is checked again
    stream_max_per_principal: int = Field(default=10, ge=1, le=10_000, alias="OPSLEDGER_STREAM_MAX_PER_PRINCIPAL")
    stream_recheck_s: float = Field(default=15.0, gt=0, le=600, alias="OPSLEDGER_STREAM_RECHECK_S")

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
    # Where pollers, camera probes and discovery may connect: comma-separated CIDRs (empty: anywhere but loopback,
    # link-local, metadata, multicast). Loopback and link-local open only when listed themselves (127.0.0.0/8).
    outbound_allow_networks: str = Field(default="", alias="OPSLEDGER_OUTBOUND_ALLOW_NETWORKS")
    camera_probe_timeout_s: float = Field(default=5.0, gt=0, le=60, alias="OPSLEDGER_CAMERA_PROBE_TIMEOUT_S")
    # Discovery: the most addresses one sweep may cover, and how many it asks per second.
    discovery_max_hosts: int = Field(default=256, ge=1, le=65_536, alias="OPSLEDGER_DISCOVERY_MAX_HOSTS")
    discovery_rate_per_s: float = Field(default=50.0, gt=0, le=10_000, alias="OPSLEDGER_DISCOVERY_RATE_PER_S")

    # Images: worker processes analysing uploads (decoding leaves the event loop), each job's wall-clock limit and
    # each worker's address-space limit; camera image health rule overrides as JSON (processors/images/health_model).
    image_workers: int = Field(default=2, ge=1, le=64, alias="OPSLEDGER_IMAGE_WORKERS")
    image_timeout_s: float = Field(default=30.0, gt=0, le=600, alias="OPSLEDGER_IMAGE_TIMEOUT_S")
    image_worker_memory_mb: int = Field(default=1024, ge=256, le=65_536, alias="OPSLEDGER_IMAGE_WORKER_MEMORY_MB")
    camera_health_rules: str = Field(default="", alias="OPSLEDGER_CAMERA_HEALTH_RULES")
    snapshot_timeout_s: float = Field(default=15.0, gt=0, le=120, alias="OPSLEDGER_SNAPSHOT_TIMEOUT_S")

    # Alert notifications (email, signed webhook): their own prefix, read when Settings is built.
    notify: NotifySettings = Field(default_factory=NotifySettings)
    oidc: OidcSettings = Field(default_factory=OidcSettings)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    @field_validator("poller_index")
    @classmethod
    def _index_in_range(cls, index: int, info: ValidationInfo) -> int:
        count = info.data.get("poller_count", 1)
        if index >= count:
            raise ValueError("OPSLEDGER_POLLER_INDEX must be below OPSLEDGER_POLLER_COUNT")
        return index

    @model_validator(mode="after")
    def _kafka_credentials(self) -> Settings:
        if self.kafka_security_protocol.startswith("SASL_") and not (self.kafka_sasl_username
                                                                     and self.kafka_sasl_password):
            raise ValueError("OPSLEDGER_KAFKA_SASL_USERNAME and OPSLEDGER_KAFKA_SASL_PASSWORD are required with SASL")
        return self

    @field_validator("outbound_allow_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        import ipaddress

        for part in value.split(","):
            if part.strip():
                ipaddress.ip_network(part.strip(), strict=False)  # ValueError: not a network
        return value

    @field_validator("jwt_secret")
    @classmethod
    def _strong_secret(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None and len(secret.get_secret_value()) < 32:
            raise ValueError("OPSLEDGER_JWT_SECRET must be at least 32 characters")
        return secret

    @field_validator("login_rate", "client_rate", "address_rate", "auth_failure_rate", "login_failure_rate",
                     "scan_rate", "account_login_backoff")
    @classmethod
    def _rates(cls, value: str) -> str:
        from limits import parse_many

        parse_many(value.replace(",", ";"))  # ValueError for anything `limits` cannot read
        return value

    @property
    def login_backoff_tiers(self) -> list[str]:
        return [tier.strip() for tier in self.account_login_backoff.split(",") if tier.strip()]

    @property
    def archive_dir(self) -> Path:
        return self.retention.archive_dir or self.data_dir / "archive"

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
    groups = {f"{group.model_config.get('env_prefix', '')}{name.upper()}"
              for group in (NotifySettings, OidcSettings, AnalyticsSettings, RetentionSettings)
              for name in group.model_fields}
    return {f.alias for f in Settings.model_fields.values() if f.alias} | groups
