"""Last router: unknown commands and oversized text (questions go to `bot.routers.ask`)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import Message

from bot.ui import texts
from rag.service import MAX_QUESTION_CHARS

router = Router(name="fallback")
router.message.filter(F.chat.type == "private")


@router.message(F.text.startswith("/"))
async def unknown_command(message: Message) -> None:
    command = (message.text or "").split()[0][:40]
    await message.answer(texts.UNKNOWN_COMMAND.format(command=texts.esc(command)))


@router.message(F.text.len() > MAX_QUESTION_CHARS)
async def too_long(message: Message) -> None:
    await message.answer(
        texts.TOO_LONG.format(length=len(message.text or ""), limit=MAX_QUESTION_CHARS)
    )
