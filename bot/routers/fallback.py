"""Last router: unknown commands, oversized text and stale or forged buttons (questions go to
`bot.routers.ask`)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import ExceptionMessageFilter, ExceptionTypeFilter
from aiogram.types import CallbackQuery, ErrorEvent, Message

from bot.ui import texts
from rag.service import MAX_QUESTION_CHARS


async def unknown_command(message: Message) -> None:
    command = (message.text or "").split()[0][:40]
    await message.answer(texts.UNKNOWN_COMMAND.format(command=texts.esc(command)))


async def too_long(message: Message) -> None:
    await message.answer(
        texts.TOO_LONG.format(length=len(message.text or ""), limit=MAX_QUESTION_CHARS)
    )


async def not_modified(event: ErrorEvent) -> None:
    """A second tap on the same button edits a message to what it already says; Telegram
    refuses that, and there is nothing to tell anyone."""


async def stale_button(query: CallbackQuery) -> None:
    """A payload no handler parsed: an old keyboard, or one somebody made up."""
    await query.answer(texts.BUTTON_STALE, show_alert=True)


def build_router() -> Router:
    router = Router(name="fallback")
    private = F.chat.type == "private"
    router.message.register(unknown_command, private, F.text.startswith("/"))
    router.message.register(too_long, private, F.text.len() > MAX_QUESTION_CHARS)
    router.callback_query.register(stale_button)
    router.errors.register(not_modified, ExceptionTypeFilter(TelegramBadRequest),
                           ExceptionMessageFilter(r".*message is not modified"))
    return router
