"""`opsledger replay`'s extra workers are forked before the command starts a thread or a loop: they begin their
share with the platform already imported (a spawned worker spent ~1.3 s of CPU importing it first)."""

from __future__ import annotations

import os
import sys

from projections.replay import start_workers


def what_the_worker_has() -> tuple[int, bool, bool]:
    return os.getppid(), "projections.ingress.projection" in sys.modules, "pydantic_core" in sys.modules


def test_workers_are_forked_with_the_platform_imported() -> None:
    import projections.ingress.projection  # noqa: F401 - what the replaying process has imported

    with start_workers(2) as pool:
        found = {pool.submit(what_the_worker_has).result(timeout=30) for _ in range(4)}
    assert found == {(os.getpid(), True, True)}
