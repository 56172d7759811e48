from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from storage import updates

log = logging.getLogger(__name__)


class DedupeMiddleware(BaseMiddleware):
    """Drop an update whose id was already processed (webhook retries, restarts, replays)."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if isinstance(event, Update):
            bot = data["bot"]
            if not await updates.first_time(data["conn"], bot.id, event.update_id):
                log.info("dropping repeated update %s", event.update_id)
                return None
        return await handler(event, data)
