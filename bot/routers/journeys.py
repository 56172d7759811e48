"""/today, Start and Done on a journey, and /progress."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

import asyncpg
from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.ui import keyboards, texts
from bot.ui.callbacks import JourneyCb
from bot.ui.render import answer_long
from storage import cohorts, enrollments, gamification, journeys, progress, users
from storage.users import User

router = Router(name="journeys")
router.message.filter(F.chat.type == "private")


@router.message(Command("today"))
async def today(
    message: Message, conn: asyncpg.Connection, user: User, clock: Callable[[], datetime]
) -> None:
    mine = [cu for cu in await enrollments.course_users_of(conn, user.id)]
    if not mine:
        await message.answer(texts.NOT_ENROLLED)
        return
    for cu in mine:
        await send_today(message, conn, cu.id, cu.title, clock())


async def send_today(
    message: Message, conn: asyncpg.Connection, course_user_id: uuid.UUID, title: str,
    now: datetime,
) -> None:
    result = await journeys.today(conn, course_user_id, now)
    if result.locked_after is not None:
        await message.answer(
            texts.QUIZ_LOCKED.format(module=result.locked_after, next=result.locked_after + 1))
        return
    if result.view is None:
        await message.answer(texts.ALREADY_FINISHED.format(title=texts.esc(title)))
        return
    jv = result.view
    markup = None if jv.done_at else keyboards.done(jv.delivery_id)
    await answer_long(message, texts.journey_messages(jv, again=not result.fresh), markup)


def _delivery_id(data: JourneyCb) -> uuid.UUID | None:
    try:
        return uuid.UUID(hex=data.delivery)
    except ValueError:
        return None


@router.callback_query(JourneyCb.filter(F.action == "start"))
async def start_journey(
    query: CallbackQuery, callback_data: JourneyCb, conn: asyncpg.Connection, user: User,
    clock: Callable[[], datetime],
) -> None:
    delivery_id = _delivery_id(callback_data)
    jv = await journeys.open_delivery(conn, delivery_id, user.id, clock()) if delivery_id else None
    if jv is None:
        await query.answer(texts.GONE, show_alert=True)
        return
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        markup = None if jv.done_at else keyboards.done(jv.delivery_id)
        await answer_long(query.message, texts.journey_messages(jv), markup)


@router.callback_query(JourneyCb.filter(F.action == "done"))
async def done_journey(
    query: CallbackQuery, callback_data: JourneyCb, conn: asyncpg.Connection, user: User,
    clock: Callable[[], datetime],
) -> None:
    delivery_id = _delivery_id(callback_data)
    result = await journeys.mark_done(conn, delivery_id, user.id, clock()) if delivery_id else None
    if result is None:
        await query.answer(texts.GONE, show_alert=True)
        return
    if not result.newly_done:
        await query.answer(texts.DONE_ALREADY)
        return
    await query.answer("✅")
    if not isinstance(query.message, Message):
        return
    await query.message.edit_reply_markup(reply_markup=None)
    jv = result.view
    earned = texts.rewards(result.xp, result.streak)
    if result.course_finished:
        text = texts.COURSE_FINISHED.format(title=texts.esc(jv.course_title))
        await query.message.answer(text + (f"\n{earned}" if earned else ""))
    else:
        text = texts.done_text(jv.topic_title, result.time_spent_seconds, result.next_title,
                               result.next_due_at, user.timezone)
        await query.message.answer(text + (f"\n{earned}" if earned else ""))
    for badge in result.badges:
        await query.message.answer(texts.badge_won(badge.emoji, badge.name, badge.description))
    if result.quiz_module is not None:
        await query.message.answer(
            texts.QUIZ_READY.format(module=result.quiz_module),
            reply_markup=keyboards.quiz_start(jv.course_slug, result.quiz_module),
        )


@router.message(Command("progress"))
async def show_progress(message: Message, conn: asyncpg.Connection, user: User) -> None:
    text = texts.progress_text(await progress.progress(conn, user.id), user.timezone)
    text += texts.projects_block(await cohorts.projects_for_user(conn, user.id))
    await answer_long(message, text)


@router.message(Command("badges"))
async def badges(message: Message, conn: asyncpg.Connection, user: User) -> None:
    items = await gamification.badges_of(conn, user.id)
    me = await users.get(conn, user.id)
    assert me is not None
    level = await conn.fetchval("SELECT level FROM users WHERE id = $1", user.id)
    await message.answer(texts.badges_text(items, me.xp_total, level, me.streak_current,
                                           me.streak_longest, user.timezone))

