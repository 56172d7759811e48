"""/today, Start and Done on a journey, /progress and /badges."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.ui import keyboards, texts
from bot.ui.callbacks import JourneyCb
from bot.ui.render import answer_long
from storage import cohorts, enrollments, gamification, journeys, progress, users
from storage.uow import Transactor
from storage.users import User


@dataclass(frozen=True)
class Card:
    """What to show for one course's journey today, decided inside the unit of work and sent
    after it committed."""

    messages: list[str] | str
    markup: InlineKeyboardMarkup | None = None

    async def send(self, message: Message) -> None:
        await answer_long(message, self.messages, self.markup)


async def take_today(conn: asyncpg.Connection, course_user_id: uuid.UUID, title: str,
                     now: datetime) -> Card:
    result = await journeys.today(conn, course_user_id, now)
    if result.locked_after is not None:
        return Card(texts.QUIZ_LOCKED.format(module=result.locked_after,
                                             next=result.locked_after + 1))
    if result.view is None:
        return Card(texts.ALREADY_FINISHED.format(title=texts.esc(title)))
    jv = result.view
    markup = None if jv.done_at else keyboards.done(jv.delivery_id)
    return Card(texts.journey_messages(jv, again=not result.fresh), markup)


async def today(
    message: Message, db: Transactor, user: User, clock: Callable[[], datetime]
) -> None:
    now = clock()
    async with db.tx() as conn:
        cards = [await take_today(conn, cu.id, cu.title, now)
                 for cu in await enrollments.course_users_of(conn, user.id)]
    if not cards:
        await message.answer(texts.NOT_ENROLLED)
    for card in cards:
        await card.send(message)


async def start_journey(
    query: CallbackQuery, callback_data: JourneyCb, db: Transactor, user: User,
    clock: Callable[[], datetime],
) -> None:
    async with db.tx() as conn:
        jv = await journeys.open_delivery(conn, callback_data.delivery, user.id, clock())
    if jv is None:
        await query.answer(texts.GONE, show_alert=True)
        return
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        markup = None if jv.done_at else keyboards.done(jv.delivery_id)
        await answer_long(query.message, texts.journey_messages(jv), markup)


async def done_journey(
    query: CallbackQuery, callback_data: JourneyCb, db: Transactor, user: User,
    clock: Callable[[], datetime],
) -> None:
    async with db.tx() as conn:
        result = await journeys.mark_done(conn, callback_data.delivery, user.id, clock())
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
    else:
        text = texts.done_text(jv.topic_title, result.time_spent_seconds, result.next_title,
                               result.next_due_at, user.timezone)
    await query.message.answer(text + (f"\n{earned}" if earned else ""))
    for badge in result.badges:
        await query.message.answer(texts.badge_won(badge.emoji, badge.name, badge.description))
    if result.quiz_module is not None:
        await query.message.answer(
            texts.QUIZ_READY.format(module=result.quiz_module),
            reply_markup=keyboards.quiz_start(jv.course_id, result.quiz_module),
        )


async def show_progress(message: Message, db: Transactor, user: User) -> None:
    async with db.read() as conn:
        text = texts.progress_text(await progress.progress(conn, user.id), user.timezone)
        text += texts.projects_block(await cohorts.projects_for_user(conn, user.id))
    await answer_long(message, text)


async def badges(message: Message, db: Transactor, user: User) -> None:
    async with db.read() as conn:
        items = await gamification.badges_of(conn, user.id)
        me = await users.get(conn, user.id)
        level = await gamification.level_of(conn, user.id)
    assert me is not None
    await message.answer(texts.badges_text(items, me.xp_total, level, me.streak_current,
                                           me.streak_longest, user.timezone))


def build_router() -> Router:
    router = Router(name="journeys")
    router.message.filter(F.chat.type == "private")
    router.message.register(today, Command("today"))
    router.message.register(show_progress, Command("progress"))
    router.message.register(badges, Command("badges"))
    router.callback_query.register(start_journey, JourneyCb.filter(F.action == "start"))
    router.callback_query.register(done_journey, JourneyCb.filter(F.action == "done"))
    return router
