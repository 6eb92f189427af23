"""Test entry point: the shared fixtures live in tests/fixtures/ and are loaded as plugins."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

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


@pytest.fixture(autouse=True)
def _collector_left_as_found() -> Iterator[None]:
    """Services freeze their start-up heap and grow the young generation (gc.freeze in
    `scaisend serve` and `scaisend smtp`); a test that runs one must not hand that state to
    the next test, which may assert the collector is untouched."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
