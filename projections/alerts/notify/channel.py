"""What a sender needs of a channel, and how a channel says it failed."""

from __future__ import annotations

from typing import Protocol

from projections.alerts.notify.message import Notice


class DeliveryFailed(Exception):
    """The receiver did not take the notice. `permanent`: retrying cannot help (dead-letter at once)."""

    def __init__(self, error: str, *, permanent: bool = False) -> None:
        super().__init__(error)
        self.permanent = permanent


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    async def send(self, notice: Notice) -> None:
        """Deliver one notice or raise DeliveryFailed. The notice's delivery_id goes with it, so a receiver can
        drop a copy resent after a crash."""
        ...
