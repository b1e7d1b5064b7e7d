"""Settings come from LMS_* variables; production refuses to start without a real secret."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lms.clock import file_source
from lms.config import ConfigError, Settings


def test_embedded_defaults_use_sqlite_under_instance(tmp_path: Path) -> None:
    settings = Settings.from_env({"LMS_INSTANCE_PATH": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'vern.sqlite3'}"
    assert not settings.is_production
    assert not settings.secure_cookies


def test_values_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "LMS_DATABASE_URL": "postgresql+psycopg://vern@db/vern",
            "LMS_SECURE_COOKIES": "1",
            "LMS_SESSION_HOURS": "8",
            "LMS_SESSION_IDLE_MINUTES": "20",
            "LMS_DEFAULT_LOCALE": "nb",
        }
    )
    assert settings.database_url == "postgresql+psycopg://vern@db/vern"
    assert settings.secure_cookies
    assert settings.session_hours == 8
    assert settings.session_idle_minutes == 20
    assert settings.default_locale == "nb"


def test_production_cookies_are_secure_unless_a_plain_http_rig_opts_out() -> None:
    production = {"LMS_ENV": "production", "LMS_SECRET_KEY": "s" * 48}
    assert Settings.from_env(production).secure_cookies
    assert Settings.from_env({**production, "LMS_SECURE_COOKIES": "0"}).secure_cookies
    assert not Settings.from_env({**production, "LMS_INSECURE_COOKIES": "1"}).secure_cookies


def test_an_unused_login_ends_after_30_minutes_by_default() -> None:
    assert Settings.from_env({}).session_idle_minutes == 30
    assert Settings().session_idle_minutes == 30


def test_settings_are_frozen() -> None:
    settings = Settings.from_env({})
    with pytest.raises(AttributeError):
        settings.env = "production"  # type: ignore[misc]


@pytest.mark.parametrize("secret", ["", "too-short"])
def test_production_refuses_to_start_without_a_secret_key(secret: str) -> None:
    with pytest.raises(ConfigError, match="LMS_SECRET_KEY"):
        Settings.from_env({"LMS_ENV": "production", "LMS_SECRET_KEY": secret})


def test_production_starts_with_a_secret_key() -> None:
    settings = Settings.from_env({"LMS_ENV": "production", "LMS_SECRET_KEY": "s" * 48})
    assert settings.is_production


def test_bad_numbers_are_named() -> None:
    with pytest.raises(ConfigError, match="LMS_SESSION_HOURS"):
        Settings.from_env({"LMS_SESSION_HOURS": "twelve"})


def test_login_throttling_limits_are_read_and_must_be_positive() -> None:
    settings = Settings.from_env(
        {"LMS_LOGIN_ACCOUNT_FAILURES": "3", "LMS_LOGIN_WINDOW_MINUTES": "30"}
    )
    assert (settings.login_account_failures, settings.login_window_minutes) == (3, 30)
    with pytest.raises(ConfigError, match="LMS_LOGIN_ADDRESS_FAILURES must be at least 1"):
        Settings.from_env({"LMS_LOGIN_ADDRESS_FAILURES": "0"})


@pytest.mark.parametrize("variable", ["LMS_CLOCK_FILE", "LMS_TICK_SECONDS"])
def test_the_simulation_knobs_are_refused_outside_testing(variable: str) -> None:
    environ = {"LMS_ENV": "production", "LMS_SECRET_KEY": "k" * 40, variable: "1"}
    with pytest.raises(ConfigError, match="testing only"):
        Settings.from_env(environ)
    testing = Settings.from_env({"LMS_ENV": "testing", variable: "1"})
    assert testing.clock_file or testing.tick_seconds


def test_a_clock_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "clock.txt"
    path.write_text("2026-03-02T08:00:00+00:00")
    now = file_source(path)
    assert now() == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    path.write_text("2026-04-01T08:00:00+00:00")
    os.utime(path, ns=(1, 10**18))  # a new modification time, whatever the file system's grain
    assert now() == datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
