"""/timezone, /time, /pause and /resume (all courses or one), /leave and /course."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from bot.i18n import fmt_datetime
from bot.ui import keyboards, texts
from bot.ui.callbacks import CourseCb, LeaveCb, TimeCb
from storage import chat, enrollments, users
from storage.enrollments import CourseUser
from storage.uow import Transactor
from storage.users import User


def valid_zone(name: str) -> str | None:
    if not name or len(name) > 64 or ".." in name or name.startswith("/"):
        return None
    try:
        return str(ZoneInfo(name))
    except (ZoneInfoNotFoundError, ValueError):
        # Be forgiving about case: "europe/berlin" means Europe/Berlin.
        fixed = "/".join(p[:1].upper() + p[1:] for p in name.split("/"))
        if fixed != name:
            return valid_zone(fixed)
        return None


async def timezone(
    message: Message, command: CommandObject, db: Transactor, user: User,
    clock: Callable[[], datetime],
) -> None:
    arg = (command.args or "").strip()
    if not arg:
        await message.answer(texts.TIMEZONE_USAGE.format(tz=texts.esc(user.timezone)))
        return
    tz = valid_zone(arg)
    now = clock()
    async with db.tx() as conn:
        # PostgreSQL computes every local date, so its own list has the last word
        accepted = tz is not None and await users.set_timezone(conn, user.id, tz, now)
    if not accepted or tz is None:
        await message.answer(texts.TIMEZONE_BAD.format(value=texts.esc(arg[:64])))
        return
    local = fmt_datetime(now, tz, "HH:mm")
    await message.answer(texts.TIMEZONE_SET.format(tz=tz, local=local))


async def time_cmd(
    message: Message, command: CommandObject, db: Transactor, user: User,
    clock: Callable[[], datetime],
) -> None:
    arg = (command.args or "").strip().removesuffix(":00")
    if not arg:
        await message.answer(
            texts.TIME_USAGE.format(hour=user.delivery_hour, tz=texts.esc(user.timezone)),
            reply_markup=keyboards.hours(),
        )
        return
    if not arg.isdigit() or not 0 <= int(arg) <= 23:
        await message.answer(texts.TIME_BAD)
        return
    async with db.tx() as conn:
        await users.set_delivery_hour(conn, user.id, int(arg), clock())
    await message.answer(texts.TIME_SET.format(hour=int(arg), tz=texts.esc(user.timezone)))


async def time_cb(
    query: CallbackQuery, callback_data: TimeCb, db: Transactor, user: User,
    clock: Callable[[], datetime],
) -> None:
    if not 0 <= callback_data.hour <= 23:  # our keyboard has no such button: forged
        await query.answer(texts.BUTTON_STALE, show_alert=True)
        return
    async with db.tx() as conn:
        await users.set_delivery_hour(conn, user.id, callback_data.hour, clock())
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(
            texts.TIME_SET.format(hour=callback_data.hour, tz=texts.esc(user.timezone))
        )


async def _my_course(conn: asyncpg.Connection, user: User, ref: str | uuid.UUID
                     ) -> tuple[CourseUser | None, list[CourseUser]]:
    """One of the learner's courses, by slug (typed) or id (a button)."""
    mine = await enrollments.course_users_of(conn, user.id)
    return next((cu for cu in mine if ref in (cu.slug, cu.course_id)), None), mine


def _not_in(slug: str, mine: list[CourseUser]) -> str:
    if not mine:
        return texts.NOT_IN_ANY_COURSE.format(slug=texts.esc(slug[:64]))
    listing = ", ".join(f"<code>{texts.esc(cu.slug)}</code>" for cu in mine)
    return texts.NOT_IN_COURSE.format(slug=texts.esc(slug[:64]), courses=listing)


async def _switch(message: Message, command: CommandObject, db: Transactor, user: User,
                  now: datetime, *, resume: bool) -> None:
    """/pause and /resume: every course, or the one named (`/pause sql-basics`)."""
    slug = (command.args or "").strip()
    async with db.tx() as conn:
        cu, mine = await _my_course(conn, user, slug) if slug else (None, [])
        if not slug or cu is not None:  # else nothing to switch: say which courses there are
            course_id = cu.course_id if cu is not None else None
            if resume:
                await users.resume(conn, user.id, now, course_id)
            else:
                await users.pause(conn, user.id, course_id, now)
    if slug and cu is None:
        await message.answer(_not_in(slug, mine))
    elif cu is None:
        await message.answer(texts.RESUMED.format(hour=user.delivery_hour,
                                                  tz=texts.esc(user.timezone))
                             if resume else texts.PAUSED)
    elif resume:
        await message.answer(texts.RESUMED_COURSE.format(
            title=texts.esc(cu.title), hour=user.delivery_hour, tz=texts.esc(user.timezone)))
    else:
        await message.answer(texts.PAUSED_COURSE.format(title=texts.esc(cu.title),
                                                        slug=texts.esc(cu.slug)))


async def pause(message: Message, command: CommandObject, db: Transactor, user: User,
                clock: Callable[[], datetime]) -> None:
    await _switch(message, command, db, user, clock(), resume=False)


async def resume(message: Message, command: CommandObject, db: Transactor, user: User,
                 clock: Callable[[], datetime]) -> None:
    await _switch(message, command, db, user, clock(), resume=True)


async def leave(message: Message, command: CommandObject, db: Transactor, user: User) -> None:
    slug = (command.args or "").strip()
    async with db.read() as conn:
        cu, mine = await _my_course(conn, user, slug)
    if not mine:
        await message.answer(texts.NOT_ENROLLED)
    elif cu is None and slug:
        await message.answer(_not_in(slug, mine))
    elif cu is None and len(mine) > 1:
        await message.answer(texts.LEAVE_PICK, reply_markup=keyboards.leave_pick(
            [(c.course_id, c.title) for c in mine]))
    else:
        cu = cu or mine[0]
        await message.answer(texts.LEAVE_CONFIRM.format(title=texts.esc(cu.title)),
                             reply_markup=keyboards.leave_confirm(cu.course_id))


async def leave_cb(
    query: CallbackQuery, callback_data: LeaveCb, db: Transactor, user: User,
    clock: Callable[[], datetime],
) -> None:
    async with db.tx() as conn:
        cu, _mine = await _my_course(conn, user, callback_data.course)
        if cu is not None and callback_data.action == "yes":
            await enrollments.leave(conn, user.id, cu.course_id, clock())
    if cu is None:  # not one of the learner's courses (any more): a stale or forged button
        await query.answer(texts.BUTTON_STALE, show_alert=True)
        return
    await query.answer()
    if not isinstance(query.message, Message):
        return
    if callback_data.action == "ask":
        await query.message.edit_text(texts.LEAVE_CONFIRM.format(title=texts.esc(cu.title)),
                                      reply_markup=keyboards.leave_confirm(cu.course_id))
    elif callback_data.action == "yes":
        await query.message.edit_text(texts.LEFT.format(title=texts.esc(cu.title)))
    else:
        await query.message.edit_text(texts.LEAVE_KEPT.format(title=texts.esc(cu.title)))


async def course_cmd(
    message: Message, command: CommandObject, db: Transactor, user: User,
    clock: Callable[[], datetime],
) -> None:
    slug = (command.args or "").strip()
    async with db.tx() as conn:
        cu, mine = await _my_course(conn, user, slug)
        if cu is not None:
            await enrollments.choose(conn, user.id, cu.course_id, clock())
        ctx = await chat.ask_context(conn, user.id) if cu is None else None
    if not mine:
        await message.answer(texts.NOT_ENROLLED)
    elif cu is not None:
        await message.answer(texts.COURSE_PICKED.format(title=texts.esc(cu.title)))
    elif slug:
        await message.answer(_not_in(slug, mine))
    else:
        current = ctx.course_id if ctx else None
        title = ctx.course_title if ctx else mine[0].title
        await message.answer(texts.COURSE_PICK.format(title=texts.esc(title)),
                             reply_markup=keyboards.course_pick(
                                 [(c.course_id, c.title) for c in mine], current))


async def course_cb(
    query: CallbackQuery, callback_data: CourseCb, db: Transactor, user: User,
    clock: Callable[[], datetime],
) -> None:
    async with db.tx() as conn:
        cu, _mine = await _my_course(conn, user, callback_data.course)
        if cu is not None:
            await enrollments.choose(conn, user.id, cu.course_id, clock())
    if cu is None:
        await query.answer(texts.BUTTON_STALE, show_alert=True)
        return
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(texts.COURSE_PICKED.format(title=texts.esc(cu.title)))


def build_router() -> Router:
    router = Router(name="preferences")
    router.message.filter(F.chat.type == "private")
    router.message.register(timezone, Command("timezone"))
    router.message.register(time_cmd, Command("time"))
    router.callback_query.register(time_cb, TimeCb.filter())
    router.message.register(pause, Command("pause"))
    router.message.register(resume, Command("resume"))
    router.message.register(leave, Command("leave"))
    router.callback_query.register(leave_cb, LeaveCb.filter())
    router.message.register(course_cmd, Command("course"))
    router.callback_query.register(course_cb, CourseCb.filter())
    return router
