"""The migrations folder as the migrator reads it: one file per version number, applied in order."""

from __future__ import annotations

from projections.migrate import migration_files


def test_every_migration_has_a_version_of_its_own_and_they_come_in_order() -> None:
    found = migration_files()  # raises when two files share a version (the second would never be applied)
    versions = [version for version, _, _ in found]
    assert versions == sorted(set(versions))
    assert all(name.startswith(f"{version:04d}_") for version, name, _ in found)
