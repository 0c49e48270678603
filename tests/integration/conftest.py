from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import Backbone, Stack, running_stack


@pytest.fixture(scope="session")
def stack(backbone: Backbone, session_dir: Path) -> Iterator[Stack]:
    """projections, processors, the API and the pollers as real processes, shared by the session's tests."""
    with running_stack(backbone, session_dir, ("projections", "processors", "api", "pollers"),
                       OPSLEDGER_POLLER_RELOAD_S="1",
                       OPSLEDGER_STREAM_HEARTBEAT_S="1") as running:  # test_live_push waits for a heartbeat
        yield running


@pytest.fixture(scope="session")
def api(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as client:
        yield client
