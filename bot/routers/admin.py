"""Admin commands. Every handler here is behind `IsAdmin` (the database role)."""

from __future__ import annotations

import io

import asyncpg
from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.types import Message

from bot import texts
from bot.filters import IsAdmin
from bot.importer import import_source
from storage.course_files import MAX_ZIP_BYTES, CourseError, load_course_zip

router = Router(name="admin")


@router.message(Command("import"), IsAdmin())
async def import_zip(message: Message, bot: Bot, pool: asyncpg.Pool) -> None:
    doc = message.document
    if doc is None or not (doc.file_name or "").lower().endswith(".zip"):
        await message.answer(texts.IMPORT_USAGE)
        return
    if doc.file_size and doc.file_size > MAX_ZIP_BYTES:
        await message.answer(texts.IMPORT_FAILED.format(
            count=1, s="", problems=f"{texts.esc(doc.file_name or '')} is larger than 20 MB"))
        return
    buffer = io.BytesIO()
    await bot.download(doc, destination=buffer)
    try:
        src = load_course_zip(buffer.getvalue(), doc.file_name or "course.zip")
    except CourseError as exc:
        shown = exc.problems[:30]
        lines = "\n".join(f"• {texts.esc(str(p))}" for p in shown)
        if len(exc.problems) > len(shown):
            lines += f"\n… and {len(exc.problems) - len(shown)} more"
        await message.answer(texts.IMPORT_FAILED.format(
            count=len(exc.problems), s="" if len(exc.problems) == 1 else "s", problems=lines))
        return
    report = await import_source(pool, src)
    await message.answer(texts.IMPORT_OK.format(summary=texts.esc(report.summary())))
