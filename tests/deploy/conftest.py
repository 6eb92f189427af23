"""Deploy tests: the chart as helm renders it, the Dockerfiles and the image recipe."""

from __future__ import annotations

import pytest

from tests.deploy.chart import PRODUCTION_VALUES, Manifests, render


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: builds wheels and venvs (about a minute); runs in CI all the same"
    )


@pytest.fixture(scope="session")
def default_manifests() -> Manifests:
    return render()


@pytest.fixture(scope="session")
def production_manifests() -> Manifests:
    return render(files=[PRODUCTION_VALUES])
