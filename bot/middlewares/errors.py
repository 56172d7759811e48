from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiogram import BaseMiddleware
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError
from aiogram.types import TelegramObject, Update

from bot.ui import texts
from storage.uow import DatabaseBusy

log = logging.getLogger(__name__)

# What a PostgreSQL restart or a dropped connection looks like from asyncpg.
DATABASE_DOWN = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                 asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError,
                 asyncpg.CrashShutdownError, ConnectionError, OSError)


class DatabaseTroubleMiddleware(BaseMiddleware):
    """A full pool or an unreachable database gets the learner a short "try again" reply
    instead of silence. Nothing half-done is left: the failing unit of work rolled back, and
    the update stays unrecorded."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        try:
            return await handler(event, data)
        except DatabaseBusy:
            log.warning("database pool exhausted; asked the sender to retry")
            _failed(data)
            await _tell(event, texts.BUSY)
        except (TelegramAPIError, TelegramNetworkError):
            raise  # Telegram's own trouble, not ours to translate
        except DATABASE_DOWN as exc:
            log.warning("database unavailable (%s); asked the sender to retry",
                        type(exc).__name__)
            _failed(data)
            await _tell(event, texts.DB_TROUBLE)
        return None


def _failed(data: dict[str, Any]) -> None:
    """Tell the transport the update was not handled (a webhook then answers non-2xx, so
    Telegram redelivers it; see bot/transports/webhook.py)."""
    outcome = data.get("outcome")
    if isinstance(outcome, dict):
        outcome["failed"] = True


async def _tell(event: TelegramObject, text: str) -> None:
    """Private chats and button taps only: a group never hears about our trouble."""
    if not isinstance(event, Update):
        return
    try:
        if event.callback_query is not None:
            await event.callback_query.answer(text, show_alert=True)
        elif event.message is not None and event.message.chat.type == "private":
            await event.message.answer(text)
    except (TelegramAPIError, TelegramNetworkError) as exc:
        log.info("could not say we're busy: %s", exc)
