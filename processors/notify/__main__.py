"""`python -m processors.notify`: the notifier as a process (until `opsledger notifier` wires it into the CLI).
Reads KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL and OPSLEDGER_NOTIFY_*; applies migrations; stops on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import signal

from infra.logs import configure_logging
from infra.settings import Settings
from processors.notify.runner import run_notifier
from processors.notify.settings import NotifySettings
from projections.migrate import migrate


async def main() -> None:
    settings, notify = Settings(), NotifySettings()
    configure_logging(settings.log_level)
    if not settings.kafka_bootstrap_servers or not settings.database_url:
        raise SystemExit("KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL must be set")
    await asyncio.to_thread(migrate, settings.database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run_notifier(notify, bootstrap=settings.kafka_bootstrap_servers, database_url=settings.database_url,
                       stop=stop, idempotence=settings.kafka_idempotence)


if __name__ == "__main__":
    asyncio.run(main())
