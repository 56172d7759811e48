from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject
from aiogram.types import User as TgUser

from bot.config import Settings
from bot.i18n import normalize
from storage import users


def sender_fields(settings: Settings, tg: TgUser, data: dict[str, Any]) -> dict[str, Any]:
    """What `users.upsert` / `users.arrive` record about the sender of this update."""
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


class UserMiddleware(BaseMiddleware):
    """Upsert the sender and hand handlers `user` (with its role) — the only identity they use.

    Any update counts as the learner being back: a lapsed learner's cards resume. When
    `UnitOfWorkMiddleware` already loaded the sender together with its repeat check (one
    round trip, `users.arrive`), there is nothing left to do here."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        tg: TgUser | None = data.get("event_from_user")
        if tg is None or tg.is_bot or "user" in data:
            return await handler(event, data)
        fields = sender_fields(self.settings, tg, data)
        async with data["db"].read() as conn:
            data["user"] = user = await users.upsert(conn, tg.id, **fields)
            if fields["now"] is not None:
                await users.welcome_back(conn, user.id, fields["now"])
        return await handler(event, data)
