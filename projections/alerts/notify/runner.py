"""The notifier: per configured channel, its outbox projection (through the projection runner) and its sender loop,
run together until `stop` is set. If one of them fails, the others are cancelled and the error is raised."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import structlog

from infra.producer import EventProducer
from infra.settings import NotifySettings
from projections.alerts.notify.channel import Channel
from projections.alerts.notify.email import EmailChannel
from projections.alerts.notify.grouping import Timers
from projections.alerts.notify.outbox import NotificationOutbox
from projections.alerts.notify.sender import Sender
from projections.alerts.notify.webhook import WebhookChannel
from projections.runner import ProjectionRunner
from schemas.registry import Registry
from schemas.topics import ALERT_EVENTS

log = structlog.get_logger(__name__)


def configured_channels(settings: NotifySettings) -> list[Channel]:
    found: list[Channel] = []
    if settings.smtp_host:
        found.append(EmailChannel(settings))
    if settings.webhook_url and settings.webhook_secret is not None:
        found.append(WebhookChannel(settings.webhook_url, settings.webhook_secret,
                                    timeout_s=settings.webhook_timeout_s))
    return found


def timers_of(settings: NotifySettings) -> Timers:
    return Timers(timedelta(seconds=settings.group_wait_s), timedelta(seconds=settings.group_interval_s),
                  timedelta(seconds=settings.repeat_interval_s))


def outbox_for(channel: str, settings: NotifySettings, *, topic: str = ALERT_EVENTS,
               registry: Registry | None = None) -> NotificationOutbox:
    return NotificationOutbox(channel, timers=timers_of(settings), group_by=settings.group_labels, topic=topic,
                              silences_topic=settings.silences_topic, registry=registry,
                              max_event_age=timedelta(seconds=settings.max_event_age_s))


async def run_notifier(settings: NotifySettings, *, bootstrap: str, database_url: str, stop: asyncio.Event,
                       idempotence: bool = False, topic: str = ALERT_EVENTS, registry: Registry | None = None,
                       channels: Sequence[Channel] | None = None) -> None:
    chosen = list(channels) if channels is not None else configured_channels(settings)
    if not chosen:
        raise SystemExit("no notification channel: set OPSLEDGER_NOTIFY_SMTP_HOST and/or OPSLEDGER_NOTIFY_WEBHOOK_URL")
    producer = EventProducer(bootstrap, idempotence=idempotence, client_id="opsledger-notifier")
    await producer.start()
    try:
        async with asyncio.TaskGroup() as tasks:
            for channel in chosen:
                outbox = outbox_for(channel.name, settings, topic=topic, registry=registry)
                runner = ProjectionRunner(outbox, bootstrap=bootstrap, database_url=database_url,
                                          deadletters=producer, max_records=500)
                sender = Sender(channel, database_url=database_url, timers=timers_of(settings), deadletters=producer,
                                max_attempts=settings.max_attempts, backoff_base_s=settings.backoff_base_s,
                                backoff_max_s=settings.backoff_max_s, poll_interval_s=settings.poll_interval_s)
                tasks.create_task(runner.run(stop), name=f"outbox:{channel.name}")
                tasks.create_task(sender.run(stop), name=f"sender:{channel.name}")
            log.info("notifier.started", channels=[c.name for c in chosen], group_by=settings.group_labels)
    finally:
        for channel in chosen:
            if isinstance(channel, WebhookChannel):
                await channel.aclose()
        await producer.stop()
    log.info("notifier.stopped")
