"""Test entry point: the shared fixtures live in tests/fixtures/ and are loaded as plugins."""

pytest_plugins = [
    "tests.fixtures.environment",
    "tests.fixtures.database",
    "tests.fixtures.redis",
    "tests.fixtures.storage",
    "tests.fixtures.factories",
    "tests.fixtures.api",
    "tests.fixtures.dns",
    "tests.fixtures.http_receiver",
    "tests.fixtures.mx",
    "tests.fixtures.rendered",
    "tests.fixtures.messages",
]
