"""/persona: the content style (journeys' variants, answers' analogies) and learner profile."""

from __future__ import annotations

import uuid

import asyncpg
from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.filters import Enrolled
from bot.ui import keyboards, texts
from bot.ui.callbacks import PersonaCb
from storage import personas
from storage.chat import AskContext
from storage.personas import PROFILES
from storage.uow import Transactor
from storage.users import User


async def _menu(conn: asyncpg.Connection, user: User, course_id: uuid.UUID,
                course_title: str) -> tuple[str, InlineKeyboardMarkup]:
    allowed = await personas.course_personas(conn, course_id)
    persona, profile = await personas.current(conn, user.id, course_id)
    text = texts.PERSONA_MENU.format(
        course=texts.esc(course_title),
        persona=texts.PERSONA_LABELS.get(persona, persona),
        profile=texts.PROFILE_LABELS.get(profile or "", "—"),
    )
    return text, keyboards.persona_choices(course_id, allowed, persona, profile)


async def persona_cmd(message: Message, db: Transactor, user: User, ctx: AskContext) -> None:
    async with db.read() as conn:
        text, markup = await _menu(conn, user, ctx.course_id, ctx.course_title)
    await message.answer(text, reply_markup=markup)


async def not_enrolled(message: Message) -> None:
    await message.answer(texts.NOT_ENROLLED)


async def persona_cb(
    query: CallbackQuery, callback_data: PersonaCb, db: Transactor, user: User
) -> None:
    course_id, value = callback_data.course, callback_data.value
    done: str | None = None
    async with db.tx() as conn:
        # The learner must be enrolled in the course the button names.
        enrolled = await personas.enrolled_course_title(conn, user.id, course_id)
        if enrolled is not None:
            title = texts.esc(enrolled)
            if callback_data.kind == "p" and value in await personas.course_personas(
                    conn, course_id):
                await personas.set_persona(conn, user.id, course_id, value)
                done = texts.PERSONA_SET.format(course=title, label=texts.PERSONA_LABELS[value])
            elif callback_data.kind == "l" and (value in PROFILES or value == "none"):
                profile = None if value == "none" else value
                await personas.set_profile(conn, user.id, course_id, profile)
                done = (texts.PROFILE_CLEARED.format(course=title) if profile is None else
                        texts.PROFILE_SET.format(course=title, label=texts.PROFILE_LABELS[value]))
            if done is not None:
                text, markup = await _menu(conn, user, course_id, enrolled)
    if done is None:
        await query.answer(texts.PERSONA_UNAVAILABLE, show_alert=True)
        return
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(f"{done}\n\n{text}", reply_markup=markup)


def build_router() -> Router:
    router = Router(name="persona")
    router.message.filter(F.chat.type == "private")
    router.message.register(persona_cmd, Command("persona"), Enrolled())
    router.message.register(not_enrolled, Command("persona"))
    router.callback_query.register(persona_cb, PersonaCb.filter())
    return router
