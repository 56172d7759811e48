"""Sending helpers shared by handlers: long texts split to Telegram's limit."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup, Message

from bot.ui.texts import split_message


async def answer_long(
    message: Message, text: str | list[str], reply_markup: InlineKeyboardMarkup | None = None
) -> Message:
    """Send `text` in as many parts as needed; the keyboard goes on the last part."""
    parts = split_message(text) if isinstance(text, str) else text
    sent = message
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        sent = await message.answer(part, reply_markup=reply_markup if last else None)
    return sent
