from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, Update

from bot.ui import texts

if TYPE_CHECKING:
    from bot.shared import SharedLimits


class ThrottlingMiddleware(BaseMiddleware):
    """Per-user flood control: at most `per_minute` messages/taps in any 60 s window.

    The first excess gets one polite warning; the rest are dropped silently so a flooder can't
    make the bot flood back. It runs on the whole update, before any database work, so a
    flood costs no connections. With `shared` (Redis) the window and the warning are shared
    by every bot process, so a flooder gains nothing from updates spread over several; while
    Redis is unreachable, and without it, each process keeps its own."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic,
                 shared: SharedLimits | None = None) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.shared = shared
        self.windows: dict[int, deque[float]] = {}
        self.warned: dict[int, float] = {}
        if shared is not None:
            from limits import RateLimitItemPerMinute

            self._flood_item = RateLimitItemPerMinute(per_minute)
            self._warn_item = RateLimitItemPerMinute(1)

    async def _allowed_shared(self, user_id: int) -> tuple[bool, bool] | None:
        """(allowed, warn) from the shared windows; None when Redis can't say."""
        from bot.shared import SharedUnavailable

        assert self.shared is not None
        if not self.shared.available():
            return None
        try:
            if not await self.shared.hit(self._flood_item, "flood", user_id):
                return True, False
            return False, not await self.shared.hit(self._warn_item, "flood-warned", user_id)
        except SharedUnavailable:
            return None

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        if self.shared is not None and (verdict := await self._allowed_shared(user.id)):
            allowed, warn = verdict
            if allowed:
                return await handler(event, data)
            if warn:
                await self._warn(event)
            return None
        now = self.clock()
        window = self.windows.setdefault(user.id, deque())
        while window and now - window[0] > 60:
            window.popleft()
        if len(window) >= self.per_minute:
            if now - self.warned.get(user.id, -1e9) > 60:
                self.warned[user.id] = now
                await self._warn(event)
            return None
        window.append(now)
        if len(self.windows) > 50_000:  # forget idle users so memory stays bounded
            for uid in [u for u, w in self.windows.items() if not w or now - w[-1] > 60]:
                self.windows.pop(uid, None)
            for uid in [u for u, t in self.warned.items() if now - t > 60]:
                self.warned.pop(uid, None)
        return await handler(event, data)

    @staticmethod
    async def _warn(event: TelegramObject) -> None:
        inner = event.event if isinstance(event, Update) else event
        if isinstance(inner, Message | CallbackQuery):
            await inner.answer(texts.SLOW_DOWN)
