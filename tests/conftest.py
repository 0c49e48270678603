"""The suite's shared fixtures live in pytest plugins (tests/plugins), loaded for every test directory.

Each session gets a temp root of its own (unless --basetemp is given). By default pytest shares
/tmp/pytest-of-<user> between sessions and makes it private (mode 0700) at every session start; the embedded
PostgreSQL runs as another system user, so a second pytest run on the machine would cut a running server off its own
data directory (it PANICs on "Permission denied"). A private root per session avoids that; it is removed when the
session passes and kept, with the component logs, when it fails.
"""

from __future__ import annotations

import shutil
import tempfile

import pytest
from hypothesis import settings

pytest_plugins = ["tests.plugins.backbone", "tests.plugins.stack", "tests.plugins.snmp"]
OWN_BASETEMP = "_opsledger_own_basetemp"

# Properties are judged on what they compute, not how fast: a per-example deadline fails at random on a loaded
# two-core machine (speed has its own benchmark commands).
settings.register_profile("opsledger", deadline=None)
settings.load_profile("opsledger")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="opsledger-tests-")
        setattr(config, OWN_BASETEMP, config.option.basetemp)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    own = getattr(session.config, OWN_BASETEMP, None)
    if own is not None and exitstatus == 0:
        session.config.add_cleanup(lambda: shutil.rmtree(own, ignore_errors=True))
