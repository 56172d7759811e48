from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update


class GroupOrderMiddleware(BaseMiddleware):
    """Handle one group's updates in arrival order.

    aiogram runs each update of a polling batch as its own task, so a reply could be handled
    before the message it replies to is stored. It would still thread (it waits for its
    parent: storage/coldcalls.py), but keeping arrival order makes that the exception, for
    updates Telegram itself delivered out of order or to another process. Updates from
    the same group chat queue on one FIFO lock, taken before anything awaits; private chats
    and different groups still run concurrently. Per process, like the flood control.

    A group's lock lives while any update holds *or waits for* it (`users` counts both) and
    is dropped with the last one, so memory stays bounded by the groups active right now. (A
    released lock with waiters is momentarily unlocked: deleting it then would let the next
    batch start on a fresh lock, concurrently with the woken waiter.)"""

    def __init__(self) -> None:
        self.locks: dict[int, asyncio.Lock] = {}
        self.users: dict[int, int] = {}

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
        self.users[chat_id] = self.users.get(chat_id, 0) + 1
        try:
            async with lock:
                return await handler(event, data)
        finally:
            self.users[chat_id] -= 1
            if self.users[chat_id] == 0:  # nobody holds or waits: idle groups keep nothing
                del self.users[chat_id]
                del self.locks[chat_id]
