"""Consistency tokens are the client's word: the API checks them against the log before waiting (real topics and
partitions, offsets the log has reached, a bounded number of spans), bounds how many reads wait at once, and never
lets waiters starve the pool."""

from __future__ import annotations

import base64
import concurrent.futures
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers.support import Stack, own_backbone, running_stack


def token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(("forged", "why"), [
    ("no.such.topic:0:1", "topic that does not exist"),
    ("files:999:0", "partition 999"),
    ("files:0:1000000000000", "position the log has not reached"),
])
def test_a_forged_token_is_refused_at_once(api: httpx.Client, forged: str, why: str) -> None:
    started = time.monotonic()
    answer = api.get("/api/events", params={"after": token(forged), "limit": 1})
    assert answer.status_code == 400, answer.text
    assert why in answer.json()["detail"]
    assert time.monotonic() - started < 2  # not a 5 s wait ending in 504


@pytest.fixture(scope="module")
def stalled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """An API on a backbone of its own where no projection runs: every token waits for the whole timeout."""
    root = tmp_path_factory.mktemp("stalled")
    with own_backbone(root / "backbone") as backbone, \
            running_stack(backbone, root / "stack", ("api",), OPSLEDGER_CONSISTENCY_MAX_WAITERS="2",
                          OPSLEDGER_CONSISTENCY_TIMEOUT_S="4") as running:
        yield running


def test_waiters_are_capped_and_never_starve_the_pool(stalled: Stack) -> None:
    with stalled.client() as admin:
        made = admin.post("/api/files", files={"file": ("a.txt", b"waiting\n", "text/plain")})
        assert made.status_code == 202, made.text
        real = made.json()["consistency_token"]

        def read() -> int:
            return admin.get("/api/events", params={"after": real, "limit": 1}).status_code

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            waiting = [pool.submit(read) for _ in range(2)]
            time.sleep(1.0)
            started = time.monotonic()
            assert read() == 503  # a third waiter is told to come back, at once
            assert time.monotonic() - started < 1
            for _ in range(30):  # while two wait, reads without a token are served from the pool as ever
                assert admin.get("/api/auth/profile").status_code == 200
            assert [w.result() for w in waiting] == [504, 504]
