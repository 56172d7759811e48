"""Settings: bad values stop the program with one clear line naming the variable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.config import ConfigError, load_settings


def test_defaults_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    s = load_settings()
    assert s.delivery_rate_per_second == 25 and s.default_timezone == "UTC"


@pytest.mark.parametrize(
    ("var", "value", "needle"),
    [
        ("ADMIN_TELEGRAM_IDS", "12,abc", "ADMIN_TELEGRAM_IDS"),
        ("DATABASE_URL", "mysql://x@y/z", "DATABASE_URL"),
        ("DEFAULT_TIMEZONE", "Mars/Base", "DEFAULT_TIMEZONE"),
        ("DEFAULT_TIMEZONE", "localtime", "DEFAULT_TIMEZONE"),
        ("DEFAULT_TIMEZONE", "posix/Europe/Berlin", "DEFAULT_TIMEZONE"),
        ("DELIVERY_RATE_PER_SECOND", "5000", "DELIVERY_RATE_PER_SECOND"),
        ("DEFAULT_DELIVERY_HOUR", "25", "DEFAULT_DELIVERY_HOUR"),
        ("WEBHOOK_SECRET", "has spaces!", "WEBHOOK_SECRET"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, needle: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = str(err.value)
    assert needle in message and "\n" not in message


def test_admin_ids_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_TELEGRAM_IDS", " 12, 34 ;56 ")
    assert load_settings().admin_telegram_ids == [12, 34, 56]


def _run_cli(env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, **env_extra}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_cli_malformed_admin_ids_is_one_line() -> None:
    proc = _run_cli({"ADMIN_TELEGRAM_IDS": "12,abc"}, "migrate")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "ADMIN_TELEGRAM_IDS" in lines[0], proc.stderr


def test_cli_unreachable_database_is_one_line() -> None:
    proc = _run_cli({"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}, "migrate")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot connect to PostgreSQL" in lines[0], proc.stderr


@pytest.mark.parametrize("secret", [None, "", "x", "a" * 31])
def test_webhook_needs_a_long_secret(monkeypatch: pytest.MonkeyPatch, secret: str | None) -> None:
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.test/hook")
    if secret is None:
        monkeypatch.delenv("WEBHOOK_SECRET", raising=False)
    else:
        monkeypatch.setenv("WEBHOOK_SECRET", secret)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "WEBHOOK_SECRET" in str(err.value) and "\n" not in str(err.value)


def test_webhook_with_a_long_secret_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.test/hook")
    monkeypatch.setenv("WEBHOOK_SECRET", "a" * 32)
    assert load_settings().webhook_secret is not None
