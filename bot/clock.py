"""The wall clock the bot runs on; tests inject their own (`clock=`) instead."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
