"""The bot under test: a Harness drives the real Dispatcher (with a real aiogram Bot over HTTP
to the local Bot API emulator) one update at a time, processed to completion."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiogram import Bot, Dispatcher

from bot.config import Settings
from tests.helpers import Clock
from tests.support.botapi import BotAPIEmulator

TOKEN = "123456:TEST-token"
ADMIN = 900001


def _sender(user_id: int, language_code: str | None) -> dict[str, Any]:
    sender: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": f"U{user_id}"}
    if language_code is not None:
        sender["language_code"] = language_code
    return sender


class Harness:
    def __init__(self, emu: BotAPIEmulator, bot: Bot, dp: Dispatcher, settings: Settings,
                 clock: Clock, pool: asyncpg.Pool) -> None:
        self.emu = emu
        self.bot = bot
        self.dp = dp
        self.settings = settings
        self.clock = clock
        self.pool = pool
        self._update_id = 10_000

    def _next(self) -> int:
        self._update_id += 1
        return self._update_id

    async def feed(self, update: dict[str, Any]) -> None:
        """Handle one update, and whatever it started in the background (an import)."""
        await self.dp.feed_raw_update(self.bot, update)
        await self.dp["background"].idle()

    async def say(self, user_id: int, text: str, *, language_code: str | None = None,
                  **extra: Any) -> None:
        """A private message from `user_id` (whose Telegram app is in `language_code`, when
        given), processed to completion before returning."""
        message = {
            "message_id": self._next(),
            "date": int(self.clock().timestamp()),
            "chat": {"id": user_id, "type": "private", "first_name": f"U{user_id}"},
            "from": _sender(user_id, language_code),
            "text": text,
            **extra,
        }
        if text.startswith("/"):
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
            ]
        await self.feed({"update_id": self._next(), "message": message})

    async def press(self, user_id: int, sent_message, button_text: str, *,
                    language_code: str | None = None) -> None:
        data = sent_message.button(button_text)["callback_data"]
        update = {
            "update_id": self._next(),
            "callback_query": {
                "id": str(self._next()),
                "from": _sender(user_id, language_code),
                "chat_instance": "ci",
                "message": sent_message.message,
                "data": data,
            },
        }
        self.emu.push_raw(update)  # so the emulator knows the query id, as Telegram would
        await self.feed(update)

    def texts_to(self, chat_id: int) -> list[str]:
        return [m.plain_text or m.content or "" for m in self.emu.messages_to(chat_id)]
