"""The suite's shared fixtures live in pytest plugins (tests/plugins), loaded for every test directory."""

pytest_plugins = ["tests.plugins.backbone", "tests.plugins.stack"]
