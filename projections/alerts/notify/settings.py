"""Notifier settings (env prefix OPSLEDGER_NOTIFY_). No default secrets; a webhook URL needs a strong secret."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from projections.alerts.notify.grouping import Timers

MIN_SECRET_CHARS = 32


class NotifySettings(BaseSettings):
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
        self.timers  # noqa: B018 - validates the three intervals together
        return self

    @property
    def recipients(self) -> list[str]:
        return [a.strip() for a in self.smtp_to.split(",") if a.strip()]

    @property
    def group_labels(self) -> tuple[str, ...]:
        return tuple(n.strip() for n in self.group_by.split(",") if n.strip())

    @property
    def timers(self) -> Timers:
        return Timers(timedelta(seconds=self.group_wait_s), timedelta(seconds=self.group_interval_s),
                      timedelta(seconds=self.repeat_interval_s))


def env_names() -> set[str]:
    """Every environment variable the notifier reads (for docker-compose checks)."""
    return {f"OPSLEDGER_NOTIFY_{name.upper()}" for name in NotifySettings.model_fields}
