from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject
from aiogram.types import User as TgUser

from bot.config import Settings
from storage import users


class UserMiddleware(BaseMiddleware):
    """Upsert the sender and hand handlers `user` (with its role) — the only identity they use.

    Any update counts as the learner being back: a lapsed learner's cards resume."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        tg: TgUser | None = data.get("event_from_user")
        if tg is None or tg.is_bot:
            return await handler(event, data)
        clock = data.get("clock")
        now = clock() if clock else None
        async with data["db"].read() as conn:
            data["user"] = user = await users.upsert(
                conn,
                tg.id,
                display_name=tg.full_name,
                username=tg.username,
                default_timezone=self.settings.default_timezone,
                default_hour=self.settings.default_delivery_hour,
                make_admin=self.settings.is_admin_id(tg.id),
                now=now,
            )
            if now is not None:
                await users.welcome_back(conn, user.id, now)
        return await handler(event, data)
