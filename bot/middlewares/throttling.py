from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, Update

from bot.ui import texts


class ThrottlingMiddleware(BaseMiddleware):
    """Per-user flood control: at most `per_minute` messages/taps in any 60 s window.

    The first excess gets one polite warning; the rest are dropped silently so a flooder can't
    make the bot flood back. It runs on the whole update, before any database work, so a
    flood costs no connections. State is per process (with several webhook processes, each
    enforces its own window)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.windows: dict[int, deque[float]] = {}
        self.warned: dict[int, float] = {}

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        now = self.clock()
        window = self.windows.setdefault(user.id, deque())
        while window and now - window[0] > 60:
            window.popleft()
        if len(window) >= self.per_minute:
            if now - self.warned.get(user.id, -1e9) > 60:
                self.warned[user.id] = now
                inner = event.event if isinstance(event, Update) else event
                if isinstance(inner, Message | CallbackQuery):
                    await inner.answer(texts.SLOW_DOWN)
            return None
        window.append(now)
        if len(self.windows) > 50_000:  # forget idle users so memory stays bounded
            for uid in [u for u, w in self.windows.items() if not w or now - w[-1] > 60]:
                self.windows.pop(uid, None)
            for uid in [u for u, t in self.warned.items() if now - t > 60]:
                self.warned.pop(uid, None)
        return await handler(event, data)
