"""Plugin: the components as real processes against the session's backbone, shared by the integration tests, and
the admin's HTTP client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.support import ADMIN_PASSWORD, JWT_SECRET, Backbone, Stack, running_stack


@pytest.fixture(scope="session")
def stack(backbone: Backbone, session_dir: Path) -> Iterator[Stack]:
    """projections, processors, the API and the pollers as real processes, shared by the session's tests."""
    with running_stack(backbone, session_dir, ("projections", "processors", "api", "pollers"),
                       OPSLEDGER_POLLER_RELOAD_S="1",
                       OPSLEDGER_STREAM_HEARTBEAT_S="1") as running:  # test_live_push waits for a heartbeat
        yield running
        leaked = run_secrets_in_logs(running)
    assert not leaked, f"the run's secrets reached component logs: {leaked}"


def run_secrets_in_logs(stack: Stack) -> list[str]:
    """The run-wide secrets (JWT secret, admin password, the admin's current token) found in any component log of the
    shared stack, checked when the session ends, whatever order the tests ran in. test_no_secrets covers every
    secret-carrying path in detail; this catches a leak by any other test's traffic."""
    secrets = {"JWT secret": JWT_SECRET, "admin password": ADMIN_PASSWORD, "admin token": stack.admin_token}
    logs = "".join(component.log() for component in stack.components.values())
    return [name for name, value in secrets.items() if value and value in logs]


@pytest.fixture(scope="session")
def api(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as client:
        yield client
