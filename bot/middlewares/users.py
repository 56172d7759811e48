"""What the unit-of-work middleware records about the sender of an update."""

from __future__ import annotations

from typing import Any

from aiogram.types import User as TgUser

from bot.config import Settings
from bot.i18n import normalize


def sender_fields(settings: Settings, tg: TgUser, data: dict[str, Any]) -> dict[str, Any]:
    """What `users.arrive` records about the sender of this update."""
    clock = data.get("clock")
    return {
        "display_name": tg.full_name,
        # the language a new user starts with; a stored choice is never overwritten
        "locale": normalize(tg.language_code),
        "username": tg.username,
        "default_timezone": settings.default_timezone,
        "default_hour": settings.default_delivery_hour,
        "make_admin": settings.is_admin_id(tg.id),
        "now": clock() if clock else None,
    }
