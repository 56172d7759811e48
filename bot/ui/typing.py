"""The typing indicator: decoration that can never fail the answer it decorates.

aiogram's ChatActionSender runs a task whose failure surfaces as "Task exception was never
retrieved" when a Bot API server doesn't like `sendChatAction`. Here the loop swallows every
failure of its own call, and leaving the block always cancels and awaits the task."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiogram import Bot

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def typing(bot: Bot, chat_id: int, *, every: float = 4.5) -> AsyncIterator[None]:
    async def keep_typing() -> None:
        while True:
            try:
                await bot.send_chat_action(chat_id, "typing")
            except Exception as exc:
                log.debug("typing indicator for %s failed: %s", chat_id, exc)
            await asyncio.sleep(every)

    task = asyncio.create_task(keep_typing(), name=f"typing-{chat_id}")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
