"""/today, Start and Done on a journey, /progress and /badges.

Every answer ends with the learner's next step as a button: the journey itself (Start, Done),
the taken journeys still open, exactly the journeys a locked module still needs, or its quiz."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.ui import keyboards, texts
from bot.ui.callbacks import JourneyCb
from bot.ui.render import answer_long
from storage import (
    cohorts,
    courses,
    day,
    done,
    gamification,
    journeys,
    progress,
)
from storage.day import TodayResult
from storage.journeys import OpenJourney
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


def next_step_cards(
    *, course_id: uuid.UUID, title: str, open_: Sequence[OpenJourney],
    missing: Sequence[OpenJourney], locked_after: int | None, quiz_module: int | None,
    has_next_module: bool = True,
) -> list[Card]:
    """The learner's next steps, each text with the buttons that do what it says."""
    cards: list[Card] = []
    quiz = (course_id, quiz_module) if quiz_module is not None else None
    shown = {o.position for o in missing}
    if missing:
        text = (texts.MODULE_MISSING.format(module=locked_after, next=(locked_after or 0) + 1,
                                            items=texts.journey_items(list(missing)))
                if has_next_module else
                texts.COURSE_MISSING.format(title=texts.esc(title),
                                            items=texts.journey_items(list(missing))))
        cards.append(Card(text, keyboards.next_steps(missing)))
    elif locked_after is not None and quiz_module == locked_after:
        cards.append(Card(texts.QUIZ_TO_UNLOCK.format(module=locked_after, next=locked_after + 1),
                          keyboards.next_steps([], quiz)))
        quiz = None
    rest = [o for o in open_ if o.position not in shown]
    if rest:
        cards.append(Card(texts.OPEN_HEADER.format(title=texts.esc(title)),
                          keyboards.next_steps(rest, quiz)))
    elif quiz is not None and not missing:
        cards.append(Card(texts.QUIZ_WAITING.format(module=quiz[1]),
                          keyboards.next_steps([], quiz)))
    return cards


def today_cards(result: TodayResult, course_id: uuid.UUID, title: str, tz: str
                ) -> list[Card]:
    cards: list[Card] = []
    jv = result.view
    if jv is not None and (jv.taken or jv.completed):
        markup = None if jv.completed else keyboards.done(jv.delivery_id)
        cards.append(Card(texts.journey_messages(jv, again=not result.fresh), markup))
    elif jv is not None:
        cards.append(Card(texts.NOT_YET))
    cards += next_step_cards(course_id=course_id, title=title, open_=result.open,
                             missing=result.missing, locked_after=result.locked_after,
                             quiz_module=result.quiz_module)
    if not cards:
        if result.finished:
            cards.append(Card(texts.ALREADY_FINISHED.format(title=texts.esc(title))))
        else:
            cards.append(Card(texts.TODAY_DONE.format(
                title=texts.esc(title), when=texts.fmt_when(result.next_due_at, tz))))
    return cards


async def take_today(conn: asyncpg.Connection, course_user_id: uuid.UUID, course_id: uuid.UUID,
                     title: str, tz: str, now: datetime) -> list[Card]:
    result = await day.today(conn, course_user_id, now)
    return today_cards(result, course_id, title, tz)


async def today(
    message: Message, db: Transactor, user: User, clock: Callable[[], datetime]
) -> None:
    now = clock()
    # Asked again, the day is one statement; the first time it opens the day's journey.
    shown = await day.today_again(db, user.id, now)
    if shown is None:
        async with db.tx() as conn:
            shown = await day.today_of_user(conn, user.id, now)
    cards = [card for cu, result in shown
             for card in today_cards(result, cu["course_id"], cu["title"], user.timezone)]
    if not cards:
        await message.answer(texts.NOT_ENROLLED)
    for card in cards:
        await card.send(message)


async def start_journey(
    query: CallbackQuery, callback_data: JourneyCb, db: Transactor, user: User,
    clock: Callable[[], datetime],
) -> None:
    async with db.tx() as conn:
        result = await day.open_delivery(conn, callback_data.delivery, user.id, clock())
    if result is None or result.view is None:
        await query.answer(texts.GONE, show_alert=True)
        return
    jv = result.view
    if not jv.taken and not jv.completed:
        await query.answer(texts.NOT_YET, show_alert=True)
        return
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        markup = None if jv.completed else keyboards.done(jv.delivery_id)
        await answer_long(query.message, texts.journey_messages(jv), markup)


async def done_journey(
    query: CallbackQuery, callback_data: JourneyCb, db: Transactor, user: User,
    clock: Callable[[], datetime],
) -> None:
    async with db.tx() as conn:
        result = await done.mark_done(conn, callback_data.delivery, user.id, clock())
        has_next_module = result is not None and await courses.has_module_after(
            conn, result.view.course_id, result.view.module_no)
    if result is None:
        await query.answer(texts.GONE, show_alert=True)
        return
    if result.not_taken:
        await query.answer(texts.NOT_YET, show_alert=True)
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
    for card in next_step_cards(
            course_id=jv.course_id, title=jv.course_title, open_=result.open,
            missing=result.missing, locked_after=jv.module_no if result.missing else None,
            quiz_module=None, has_next_module=has_next_module):
        await card.send(query.message)


async def show_progress(message: Message, db: Transactor, user: User) -> None:
    cards: list[Card] = []
    # three reads at once, each shared with the updates in flight that make it (storage.reads)
    courses, projects, steps = await asyncio.gather(
        progress.progress(db.reads, user.id), cohorts.projects_for_user(db.reads, user.id),
        journeys.next_steps_of_user(db.reads, user.id))
    text = texts.progress_text(courses, user.timezone) + texts.projects_block(projects)
    for course_id, title, open_, quiz_module in steps:
        cards += next_step_cards(course_id=course_id, title=title, open_=open_,
                                 missing=(), locked_after=None, quiz_module=quiz_module)
    if len(cards) == 1 and isinstance(cards[0].messages, str):
        # One next step: its buttons go under the figures, one message instead of two (a
        # chat gets one message a second from Telegram).
        await answer_long(message, f"{text}\n\n{cards[0].messages}", cards[0].markup)
        return
    await answer_long(message, text)
    for card in cards:
        await card.send(message)


async def badges(message: Message, db: Transactor, user: User) -> None:
    me = await gamification.standing(db.reads, user.id)
    assert me is not None
    await message.answer(texts.badges_text(me.badges, me.xp_total, me.level, me.streak_current,
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
