"""Settings from environment variables and `.env`, validated once at start.

A bad value stops the program with one line naming the variable (see `load_settings`), never a
traceback: operators read these lines in container logs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line meant for the operator."""


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "learnbot"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    bot_token: SecretStr | None = None
    telegram_api_url: str | None = None
    database_url: str | None = None
    data_dir: Path = Field(default_factory=_default_data_dir)
    # Connections per process; a learner waits at most `database_acquire_timeout_seconds` for
    # one and is then told the bot is busy (no unit of work holds one across an outside wait).
    database_pool_size: int = Field(default=10, ge=2, le=200)
    database_acquire_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    # With REDIS_URL every process of the bot shares one send budget and flood control
    # (bot/shared.py); keys start with this prefix and the bot's id.
    redis_url: str | None = None
    redis_key_prefix: str = Field(default="learnbot", min_length=1, max_length=64)
    admin_telegram_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)

    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen_host: str = "0.0.0.0"
    webhook_listen_port: int = Field(default=8080, ge=1, le=65535)

    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    llm_max_retries: int = Field(default=2, ge=0, le=10)

    embedding_model: str = "all-MiniLM-L6-v2"
    # Ask the course: passages less similar than this to a question are not answered from
    # (0.26: just above the best off-topic match on the real-corpus eval; see bench/rag_eval.py).
    rag_min_similarity: float = Field(default=0.26, ge=0, le=1)
    rag_hnsw_ef_search: int = Field(default=200, ge=1, le=1000)
    # Unsummarized chat messages before older turns are folded into the session summary.
    chat_summary_after_messages: int = Field(default=8, ge=2, le=200)

    delivery_rate_per_second: float = Field(default=25.0, gt=0, le=1000)
    delivery_chat_interval_seconds: float = Field(default=1.0, ge=0, le=60)
    delivery_group_per_minute: int = Field(default=20, ge=1, le=60)
    delivery_batch_size: int = Field(default=200, ge=1, le=10_000)
    delivery_visibility_timeout_seconds: int = Field(default=300, ge=5, le=86_400)
    delivery_max_attempts: int = Field(default=5, ge=1, le=50)
    delivery_poll_seconds: float = Field(default=30.0, gt=0, le=3600)
    delivery_concurrency: int = Field(default=64, ge=1, le=1000)

    # A broadcast's progress message is edited this often; the process sending it renews its
    # lease as often, and another process resumes it once the lease has lapsed.
    broadcast_progress_seconds: float = Field(default=3.0, ge=0.5, le=60)
    broadcast_lease_seconds: float = Field(default=15.0, ge=2, le=600)

    # Background loops (deliveries, broadcast resumption, pruning) restart with backoff when a
    # round fails; failing without a break this long makes `learnbot run` exit 1 (0 = never).
    supervisor_give_up_seconds: float = Field(default=1800.0, ge=0, le=86_400)

    default_prompt_quota: int = Field(default=10, ge=0, le=10_000)
    default_timezone: str = "UTC"
    default_delivery_hour: int = Field(default=8, ge=0, le=23)

    flood_messages_per_minute: int = Field(default=30, ge=1, le=600)
    log_level: str = "INFO"

    @field_validator("admin_telegram_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
            for part in parts:
                if not part.lstrip("-").isdigit():
                    raise ValueError(f"{part!r} is not a numeric Telegram user id")
            return [int(p) for p in parts]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("postgres://", "postgresql://")):
            raise ValueError("must start with postgresql:// (e.g. postgresql://user@host:5432/db)")
        return value

    @field_validator("telegram_api_url", "webhook_url", "llm_base_url", "redis_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if "://" not in value:
            raise ValueError("must be a URL with a scheme, e.g. http://127.0.0.1:8081")
        return value.rstrip("/")

    @field_validator("default_timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        # zoneinfo also opens tz database files that aren't zones PostgreSQL knows; the
        # database's own check (migration 0150) would then refuse every new learner
        not_zones = value in ("localtime", "posixrules") or value.startswith(("posix/", "right/"))
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            not_zones = True
        if not_zones:
            raise ValueError("must be an IANA time zone name such as Europe/Berlin")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        ok = 1 <= len(raw) <= 256 and all(c.isalnum() or c in "_-" for c in raw)
        if not ok:
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @property
    def llm_enabled(self) -> bool:
        return bool(self.llm_base_url and self.llm_model)

    def is_admin_id(self, telegram_id: int) -> bool:
        return telegram_id in self.admin_telegram_ids


# Telegram accepts 1-256 characters; a webhook secret is the only thing standing between the
# open port and "an update from an admin", so it must be long enough not to be guessed.
MIN_WEBHOOK_SECRET = 32
SECRET_HINT = 'generate one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning the first validation problem into a one-line `ConfigError`."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]).upper() if err["loc"] else "settings"
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"Invalid setting {name}: {msg}") from None
    _check_webhook(settings)
    return settings


def _check_webhook(settings: Settings) -> None:
    if not settings.webhook_url:
        return
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    if not secret:
        raise ConfigError(f"Missing setting WEBHOOK_SECRET: WEBHOOK_URL needs one; {SECRET_HINT}")
    if len(secret) < MIN_WEBHOOK_SECRET:
        raise ConfigError(
            f"Invalid setting WEBHOOK_SECRET: must be at least {MIN_WEBHOOK_SECRET} characters "
            f"for a webhook; {SECRET_HINT}")
