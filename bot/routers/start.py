"""/start (with enroll_<slug> deep links), /help, /courses and enrolling."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import asyncpg
from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message

from bot.routers import cohort
from bot.ui import keyboards, texts
from bot.ui.callbacks import EnrollCb
from bot.ui.render import answer_long
from storage import courses, enrollments, pages
from storage.users import User

router = Router(name="start")
router.message.filter(F.chat.type == "private")


async def page(conn: asyncpg.Connection, slug: str) -> str:
    return await pages.get(conn, slug) or texts.DEFAULT_PAGES[slug]


@router.message(CommandStart())
async def start(
    message: Message, command: CommandObject, conn: asyncpg.Connection, user: User,
    clock: Callable[[], datetime],
) -> None:
    payload = (command.args or "").strip()
    if payload.startswith("enroll_"):
        await enroll_and_show(message, conn, user, payload.removeprefix("enroll_"), clock())
        return
    if payload.startswith("join_"):  # a personal cohort invite (see bot/routers/cohort.py)
        await cohort.join(message, conn, user, payload.removeprefix("join_"), clock())
        return
    welcome = (await page(conn, "welcome")).replace("{name}", texts.esc(user.display_name))
    await message.answer(welcome)
    await show_courses(message, conn, user)


@router.message(Command("help"))
async def help_(message: Message, conn: asyncpg.Connection) -> None:
    await answer_long(message, await page(conn, "help"))


@router.message(Command("courses"))
async def courses_cmd(message: Message, conn: asyncpg.Connection, user: User) -> None:
    await show_courses(message, conn, user)


async def show_courses(message: Message, conn: asyncpg.Connection, user: User) -> None:
    rows = await courses.list_courses(conn)
    if not rows:
        await message.answer(texts.NO_COURSES)
        return
    mine = {cu.slug for cu in await enrollments.course_users_of(conn, user.id)}
    await message.answer(texts.COURSES_HEADER, reply_markup=keyboards.courses(rows, mine))


@router.callback_query(EnrollCb.filter())
async def enroll_cb(
    query: CallbackQuery, callback_data: EnrollCb, conn: asyncpg.Connection, user: User,
    clock: Callable[[], datetime],
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await enroll_and_show(query.message, conn, user, callback_data.slug, clock())


async def enroll_and_show(
    message: Message, conn: asyncpg.Connection, user: User, slug: str, now: datetime
) -> None:
    from bot.routers.journeys import send_today  # shared flow: enrolling shows journey one

    course = await courses.get_by_slug(conn, slug)
    if course is None:
        await message.answer(texts.UNKNOWN_COURSE.format(slug=texts.esc(slug)))
        return
    enrolled = await enrollments.enroll(conn, user.id, course.id, now)
    template = texts.ENROLLED if enrolled.created else texts.ALREADY_ENROLLED
    await message.answer(template.format(title=texts.esc(course.title)))
    await send_today(message, conn, enrolled.course_user_id, course.title, now)
