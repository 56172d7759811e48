"""/persona: the content style (journeys' variants, answers' analogies) and learner profile."""

from __future__ import annotations

import uuid

import asyncpg
from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.ui import keyboards, texts
from bot.ui.callbacks import PersonaCb
from storage import chat, personas
from storage.personas import PROFILES
from storage.users import User

router = Router(name="persona")
router.message.filter(F.chat.type == "private")


async def _menu(conn: asyncpg.Connection, user: User, course_id: uuid.UUID,
                course_title: str) -> tuple[str, object]:
    allowed = await personas.course_personas(conn, course_id)
    persona, profile = await personas.current(conn, user.id, course_id)
    text = texts.PERSONA_MENU.format(
        course=texts.esc(course_title),
        persona=texts.PERSONA_LABELS.get(persona, persona),
        profile=texts.PROFILE_LABELS.get(profile or "", "—"),
    )
    return text, keyboards.persona_choices(course_id, allowed, persona, profile)


@router.message(Command("persona"))
async def persona_cmd(message: Message, conn: asyncpg.Connection, user: User) -> None:
    ctx = await chat.ask_context(conn, user.id)
    if ctx is None:
        await message.answer(texts.NOT_ENROLLED)
        return
    text, markup = await _menu(conn, user, ctx.course_id, ctx.course_title)
    await message.answer(text, reply_markup=markup)


@router.callback_query(PersonaCb.filter())
async def persona_cb(
    query: CallbackQuery, callback_data: PersonaCb, conn: asyncpg.Connection, user: User
) -> None:
    try:
        course_id = uuid.UUID(hex=callback_data.course)
    except ValueError:
        course_id = None
    enrolled = (await personas.enrolled_course_title(conn, user.id, course_id)
                if course_id is not None else None)
    if enrolled is None or course_id is None:
        await query.answer(texts.PERSONA_UNAVAILABLE, show_alert=True)
        return
    title = texts.esc(enrolled)
    value = callback_data.value
    if callback_data.kind == "p" and value in await personas.course_personas(conn, course_id):
        await personas.set_persona(conn, user.id, course_id, value)
        done = texts.PERSONA_SET.format(course=title, label=texts.PERSONA_LABELS[value])
    elif callback_data.kind == "l" and (value in PROFILES or value == "none"):
        profile = None if value == "none" else value
        await personas.set_profile(conn, user.id, course_id, profile)
        done = (texts.PROFILE_CLEARED.format(course=title) if profile is None
                else texts.PROFILE_SET.format(course=title, label=texts.PROFILE_LABELS[value]))
    else:
        await query.answer(texts.PERSONA_UNAVAILABLE, show_alert=True)
        return
    await query.answer()
    if isinstance(query.message, Message):
        text, markup = await _menu(conn, user, course_id, enrolled)
        await query.message.edit_text(f"{done}\n\n{text}", reply_markup=markup)
