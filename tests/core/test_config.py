"""CoreSettings: defaults, parsing of list variables, and the SECRET_KEY and storage rules."""

from __future__ import annotations

import pytest

from scaisend_core.config import ConfigurationError, CoreSettings, load_settings

BASE = {
    "database_url": "mysql://u:p@db/scaisend",
    "redis_url": "redis://localhost:6379/0",
    "secret_key": "s" * 40,
    "storage_dir": "/tmp/scaisend",
}


def test_minimal_environment_starts_with_defaults() -> None:
    settings = CoreSettings(**BASE)
    assert settings.database_url == "mysql+asyncmy://u:p@db/scaisend"
    assert settings.smtp_mx_port == 25
    assert settings.smtp_retry_schedule[0] == 60
    assert settings.smtp_delivery == "mx"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("mysql+aiomysql://u@h/d", "mysql+asyncmy://u@h/d"),
        ("mysql://u@h/d", "mysql+asyncmy://u@h/d"),
        ("mysql+asyncmy://u@h/d", "mysql+asyncmy://u@h/d"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_database_urls_are_normalised_to_async_drivers(given: str, expected: str) -> None:
    assert CoreSettings(**{**BASE, "database_url": given}).database_url == expected


def test_comma_separated_lists_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {k.upper(): v for k, v in BASE.items()}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DNS_NAMESERVERS", "127.0.0.1:5353, 10.0.0.2")
    monkeypatch.setenv("SMTP_RETRY_SCHEDULE", "30,60,120")
    settings = load_settings(CoreSettings)
    assert settings.dns_nameservers == ["127.0.0.1:5353", "10.0.0.2"]
    assert settings.smtp_retry_schedule == [30, 60, 120]


@pytest.mark.parametrize("secret", ["", "changeme", "short-secret"])
def test_placeholder_or_short_secret_is_refused_outside_embedded_mode(secret: str) -> None:
    with pytest.raises(ValueError, match="SECRET_KEY"):
        CoreSettings(**{**BASE, "secret_key": secret})


def test_embedded_mode_accepts_a_generated_short_secret() -> None:
    settings = CoreSettings(**{**BASE, "secret_key": "dev", "environment": "embedded"})
    assert settings.environment == "embedded"


def test_storage_must_be_configured() -> None:
    with pytest.raises(ValueError, match="storage"):
        CoreSettings(**{k: v for k, v in BASE.items() if k != "storage_dir"})


def test_load_settings_reports_every_problem_by_variable_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("STORAGE_DIR", "/tmp/x")
    with pytest.raises(ConfigurationError) as info:
        load_settings(CoreSettings)
    assert "DATABASE_URL" in str(info.value)
    assert "REDIS_URL" in str(info.value)
