"""/start (with enroll_<slug> and join_<code> deep links), /help, /courses and enrolling."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

import asyncpg
from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.i18n import current
from bot.routers import cohort, journeys
from bot.ui import keyboards, texts
from bot.ui.callbacks import EnrollCb
from bot.ui.render import answer_long
from storage import courses, enrollments, pages
from storage.reads import Reader
from storage.uow import Transactor
from storage.users import User


async def page(conn: Reader, slug: str) -> str:
    return await pages.get(conn, slug) or texts.DEFAULT_PAGES[slug]


async def start(
    message: Message, command: CommandObject, db: Transactor, user: User,
    clock: Callable[[], datetime],
) -> None:
    payload = (command.args or "").strip()
    if payload.startswith("enroll_"):
        await enroll_and_show(message, db, user, clock(), slug=payload.removeprefix("enroll_"))
        return
    if payload.startswith("join_"):  # a personal cohort invite (see bot/routers/cohort.py)
        await cohort.join(message, db, user, payload.removeprefix("join_"), clock())
        return
    async with db.read() as conn:
        welcome = (await page(conn, "welcome")).replace("{name}", texts.esc(user.display_name))
        listing = await course_listing(conn, user)
    await message.answer(welcome)
    await message.answer(listing[0], reply_markup=listing[1])


async def help_(message: Message, db: Transactor) -> None:
    text = await page(db.reads, "help")
    await answer_long(message, text)


async def courses_cmd(message: Message, db: Transactor, user: User) -> None:
    async with db.read() as conn:
        text, markup = await course_listing(conn, user)
    await message.answer(text, reply_markup=markup)


async def course_listing(conn: asyncpg.Connection, user: User
                         ) -> tuple[str, InlineKeyboardMarkup | None]:
    rows = await courses.list_courses(conn, current())
    if not rows:
        return texts.NO_COURSES, None
    mine = {cu.slug for cu in await enrollments.course_users_of(conn, user.id)}
    return texts.course_listing(rows), keyboards.courses(rows, mine)


async def enroll_cb(
    query: CallbackQuery, callback_data: EnrollCb, db: Transactor, user: User,
    clock: Callable[[], datetime],
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await enroll_and_show(query.message, db, user, clock(), course_id=callback_data.course)


async def enroll_and_show(
    message: Message, db: Transactor, user: User, now: datetime, *, slug: str | None = None,
    course_id: uuid.UUID | None = None,
) -> None:
    """Enroll in a published course (by deep-link slug or button id) and take journey one,
    in one unit of work, then say so."""
    async with db.tx() as conn:
        course = await courses.get_published(conn, slug=slug and slug[:64], course_id=course_id,
                                             language=current())
        if course is not None:
            enrolled = await enrollments.enroll(conn, user.id, course.id, now)
            cards = await journeys.take_today(conn, enrolled.course_user_id, course.id,
                                              course.title, user.timezone, now)
    if course is None:
        await message.answer(texts.UNKNOWN_COURSE.format(slug=texts.esc(slug[:64]))
                             if slug is not None else texts.COURSE_GONE)
        return
    template = (texts.ENROLLED if enrolled.created else
                texts.REJOINED if enrolled.rejoined else texts.ALREADY_ENROLLED)
    await message.answer(template.format(title=texts.esc(course.title)))
    for card in cards:
        await card.send(message)


def build_router() -> Router:
    router = Router(name="start")
    router.message.filter(F.chat.type == "private")
    router.message.register(start, CommandStart())
    router.message.register(help_, Command("help"))
    router.message.register(courses_cmd, Command("courses"))
    router.callback_query.register(enroll_cb, EnrollCb.filter())
    return router
