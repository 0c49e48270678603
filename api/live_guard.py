"""A live stream's credential, checked again while it runs: a stream outlives the request that opened it, so
logout, deactivation, a role change, a revoked or expired key or token must end it too. Every
OPSLEDGER_STREAM_RECHECK_S the stream authenticates its secret again and recomputes what it may read; it ends (SSE:
an `error` event; WS: close 4000 + status) when the credential is gone or what it may read is no longer what it was
given."""

from __future__ import annotations

import time
from collections.abc import Sequence

from fastapi import FastAPI

from api.identity.principal import authenticate_secret, permits
from api.identity.rules import RULES
from api.live_filters import StreamFilter, authorised_filter
from api.problems import Problem


class StreamEnded(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.detail)
        self.problem = problem


class Guard:
    def __init__(self, app: FastAPI, secret: str, wanted: StreamFilter, asked: tuple[Sequence[str] | None, ...],
                 every_s: float) -> None:
        self.app, self.secret, self.wanted, self.asked, self.every_s = app, secret, wanted, asked, every_s
        self.next_at = time.monotonic() + every_s

    async def check(self) -> None:
        """Raise StreamEnded when the credential no longer lets this stream go on (checked at most every every_s)."""
        if time.monotonic() < self.next_at:
            return
        self.next_at = time.monotonic() + self.every_s
        try:
            principal = await authenticate_secret(self.app, self.secret)
            if not permits(principal, RULES[("WS", "/ws")]):
                raise Problem(403, "You are not allowed to do this any more.")
            topics, subjects, types = self.asked
            if authorised_filter(principal, topics, subjects, types) != self.wanted:
                raise Problem(403, "What you may read has changed; subscribe again.")
        except Problem as refused:
            raise StreamEnded(refused) from refused
