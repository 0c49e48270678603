"""The notifier as a separate process for kill tests: `python -m tests.helpers.notifier_proc` with the backbone in
KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, OPSLEDGER_NOTIFY_* as usual, and the test's own topic and channel names in
NOTIFY_TEST_TOPIC and NOTIFY_TEST_CHANNEL (so tests sharing one database and broker do not see each other)."""

from __future__ import annotations

import asyncio
import os
import signal

from infra.logs import configure_logging
from infra.settings import NotifySettings
from projections.alerts.notify.channel import Channel
from projections.alerts.notify.email import EmailChannel
from projections.alerts.notify.runner import run_notifier
from projections.alerts.notify.webhook import WebhookChannel


async def main() -> None:
    configure_logging("INFO")
    settings, name = NotifySettings(), os.environ["NOTIFY_TEST_CHANNEL"]
    assert settings.webhook_secret is not None
    channels: list[Channel] = [EmailChannel(settings, name=f"{name}-email"),
                WebhookChannel(settings.webhook_url, settings.webhook_secret, name=f"{name}-webhook")]
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await run_notifier(settings, bootstrap=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
                       database_url=os.environ["DATABASE_URL"], stop=stop, topic=os.environ["NOTIFY_TEST_TOPIC"],
                       channels=channels)


if __name__ == "__main__":
    asyncio.run(main())
