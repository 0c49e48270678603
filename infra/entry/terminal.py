"""What every `opsledger` command shares: the stderr console, and settings read once with logging configured."""

from __future__ import annotations

from rich.console import Console

from infra.logs import configure_logging
from infra.settings import Settings, get_settings

console = Console(stderr=True)


def command_settings() -> Settings:
    settings = get_settings()
    configure_logging(settings.log_level)
    return settings
