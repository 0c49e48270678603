"""Reproducible installs: hashed lock files that the Makefile (so CI, through `make test`) and the image install,
floors above releases with known vulnerabilities, and pip-audit over the lock in `make test`."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[3]
LOCKS = {"runtime": ROOT / "requirements" / "runtime.lock", "dev": ROOT / "requirements" / "dev.lock"}
# Advisories fixed in these releases: Starlette (multipart DoS, CVE-2025-62727 and earlier), python-multipart
# (CVE-2024-53981), PyJWT (CVE-2024-53861).
FLOORS = {"starlette": Version("0.49.1"), "python-multipart": Version("0.0.18"), "pyjwt": Version("2.10.1")}
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pins(lock: Path) -> dict[str, tuple[Version, int]]:
    """name -> (pinned version, number of hashes)."""
    found: dict[str, tuple[Version, int]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", lock.read_text()):
        head = block.split(" ", 1)[0].strip()
        if "==" in head:
            name, version = head.split("==")
            found[str(canonicalize_name(name))] = (Version(version), block.count("--hash=sha256:"))
    return found


@pytest.mark.parametrize("kind", sorted(LOCKS))
def test_every_locked_package_is_pinned_with_hashes(kind: str) -> None:
    locked = pins(LOCKS[kind])
    assert len(locked) > 50
    assert all(hashes >= 1 for _, hashes in locked.values()), [n for n, (_, h) in locked.items() if not h]


@pytest.mark.parametrize("kind", sorted(LOCKS))
def test_the_lock_satisfies_pyproject(kind: str) -> None:
    """A dependency added to pyproject.toml without `make lock` would not be installed: fail here instead."""
    wanted = [Requirement(r) for r in PROJECT["dependencies"]]
    if kind == "dev":
        wanted += [Requirement(r) for r in PROJECT["optional-dependencies"]["dev"]]
    locked = pins(LOCKS[kind])
    for requirement in wanted:
        name = str(canonicalize_name(requirement.name))
        assert name in locked, f"{name} is not in {LOCKS[kind].name}: run `make lock`"
        assert requirement.specifier.contains(locked[name][0], prereleases=True), (name, locked[name][0])


@pytest.mark.parametrize("kind", sorted(LOCKS))
def test_floors_are_above_known_vulnerable_releases(kind: str) -> None:
    locked = pins(LOCKS[kind])
    declared = {str(canonicalize_name(Requirement(r).name)): Requirement(r) for r in PROJECT["dependencies"]}
    for name, floor in FLOORS.items():
        assert locked[name][0] >= floor, f"{name} {locked[name][0]} is below {floor}"
        assert any(s.operator == ">=" and Version(s.version) >= floor for s in declared[name].specifier), name


def test_the_makefile_ci_and_image_install_from_the_locks_and_audit_them() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes -r $(RUNTIME_LOCK)" in makefile and "--require-hashes -r $(DEV_LOCK)" in makefile
    assert "pip install --quiet -e ." not in makefile  # the package alone, never resolving again: --no-deps
    assert re.search(r"^test: .*\baudit\b", makefile, re.M)
    assert re.search(r"^audit:.*\n\t\$\(BIN\)/pip-audit .*--require-hashes.*-r \$\(DEV_LOCK\)", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    dockerfile = (ROOT / "infra" / "Dockerfile").read_text()
    assert "--require-hashes -r /tmp/runtime.lock" in dockerfile and "--no-deps /tmp/src" in dockerfile
