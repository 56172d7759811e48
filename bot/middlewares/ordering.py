from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update


class GroupOrderMiddleware(BaseMiddleware):
    """Handle one group's updates in arrival order.

    aiogram runs each update of a polling batch as its own task, so a reply could be handled
    before the message it replies to is stored (and then not thread under it). Updates from
    the same group chat queue on one FIFO lock, taken before anything awaits; private chats
    and different groups still run concurrently. Per process, like the flood control."""

    def __init__(self) -> None:
        self.locks: dict[int, asyncio.Lock] = {}

    @staticmethod
    def _group_id(event: Update) -> int | None:
        inner = (event.message or event.edited_message or event.message_reaction
                 or event.message_reaction_count)
        chat = getattr(inner, "chat", None)
        return chat.id if chat is not None and chat.type in ("group", "supergroup") else None

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        chat_id = self._group_id(event) if isinstance(event, Update) else None
        if chat_id is None:
            return await handler(event, data)
        lock = self.locks.setdefault(chat_id, asyncio.Lock())
        try:
            async with lock:
                return await handler(event, data)
        finally:
            if not lock.locked() and self.locks.get(chat_id) is lock:
                del self.locks[chat_id]  # idle groups don't keep a lock around
