"""Module quizzes: /quiz, one question at a time as inline keyboards, cooldown after a fail."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg
from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.ui import keyboards, texts
from bot.ui.callbacks import QuizCb, QuizStartCb
from storage import courses, enrollments, quiz
from storage.completion import finish_course_if_complete
from storage.users import User

router = Router(name="quiz")
router.message.filter(F.chat.type == "private")


@router.message(Command("quiz"))
async def quiz_cmd(
    message: Message, conn: asyncpg.Connection, user: User, clock: Callable[[], datetime]
) -> None:
    mine = await enrollments.course_users_of(conn, user.id)
    if not mine:
        await message.answer(texts.NOT_ENROLLED)
        return
    for cu in mine:
        module = await quiz.quiz_module(conn, user.id, cu.course_id)
        if module is not None:
            await begin(message, conn, user, cu.course_id, module, clock())
            return
    await message.answer(texts.QUIZ_NONE)


@router.callback_query(QuizStartCb.filter())
async def quiz_start_cb(
    query: CallbackQuery, callback_data: QuizStartCb, conn: asyncpg.Connection, user: User,
    clock: Callable[[], datetime],
) -> None:
    await query.answer()
    course = await courses.get_by_slug(conn, callback_data.course)
    enrolled = {cu.course_id for cu in await enrollments.course_users_of(conn, user.id)}
    if course is None or course.id not in enrolled or not isinstance(query.message, Message):
        return
    await query.message.edit_reply_markup(reply_markup=None)
    await begin(query.message, conn, user, course.id, callback_data.module, clock())


async def begin(message: Message, conn: asyncpg.Connection, user: User, course_id: uuid.UUID,
                module: int, now: datetime) -> None:
    result = await quiz.start(conn, user.id, course_id, module, now)
    if result.already_passed:
        await message.answer(texts.QUIZ_PASSED_ALREADY.format(module=module))
        return
    if result.cooldown_until:
        await message.answer(cooldown_text(module, result.cooldown_until, now, user.timezone))
        return
    if result.no_quiz or result.attempt is None:
        await message.answer(texts.QUIZ_NONE)
        return
    attempt = result.attempt
    pass_mark = await conn.fetchval("SELECT pass_mark FROM courses WHERE id = $1", course_id)
    if attempt.index == 0:
        await message.answer(texts.QUIZ_START.format(
            module=module, title=texts.esc(attempt.module_title), total=attempt.total,
            mark=pass_mark))
    await send_question(message, conn, attempt)


def cooldown_text(module: int, until: datetime, now: datetime, tz: str) -> str:
    when = until.astimezone(ZoneInfo(tz)).strftime("%H:%M on %d %b")
    return texts.QUIZ_COOLDOWN.format(module=module, left=texts.duration(
        (until - now).total_seconds()), when=when)


async def send_question(message: Message, conn: asyncpg.Connection, attempt: quiz.Attempt
                        ) -> None:
    q = await quiz.question(conn, uuid.UUID(attempt.question_ids[attempt.index]))
    if q is None:
        await message.answer(texts.QUIZ_GONE)
        return
    await message.answer(
        texts.quiz_question(attempt.module_no, attempt.index, attempt.total, q.prompt),
        reply_markup=keyboards.quiz_options(attempt.id, attempt.index,
                                            [text for _, text, _ in q.options]),
    )


@router.callback_query(QuizCb.filter())
async def answer_cb(
    query: CallbackQuery, callback_data: QuizCb, conn: asyncpg.Connection, user: User,
    clock: Callable[[], datetime],
) -> None:
    try:
        attempt_id = uuid.UUID(hex=callback_data.attempt)
    except ValueError:
        attempt_id = None
    now = clock()
    result = (await quiz.answer(conn, attempt_id, user.id, callback_data.q, callback_data.o, now)
              if attempt_id else None)
    if result is None or not result.recorded:
        await query.answer(texts.QUIZ_GONE)
        return
    await query.answer("✅" if result.correct else "❌")
    if not isinstance(query.message, Message):
        return
    message = query.message
    original = message.html_text if message.text else ""
    await message.edit_text(
        original + "\n\n" + texts.quiz_feedback(result.correct, result.correct_text,
                                               result.explanation),
        reply_markup=None,
    )
    if not result.finished:
        attempt = await quiz.attempt(conn, attempt_id, user.id)
        if attempt:
            await send_question(message, conn, attempt)
        return
    assert result.score is not None and result.passed is not None
    attempt_row = await conn.fetchrow(
        "SELECT course_id, module_no FROM quiz_attempts WHERE attempt_id = $1", attempt_id)
    cooldown = None
    if result.cooldown_until:
        cooldown = "at " + result.cooldown_until.astimezone(
            ZoneInfo(user.timezone)).strftime("%H:%M on %d %b")
    await message.answer(texts.quiz_result(result.score, result.passed, result.pass_mark,
                                           attempt_row["module_no"], cooldown, result.xp))
    badges = list(result.badges)
    if result.module_completed:
        finished, won = await finish_course_if_complete(conn, user.id, attempt_row["course_id"],
                                                        now)
        badges += won
        if finished:
            title = await conn.fetchval("SELECT title FROM courses WHERE id = $1",
                                        attempt_row["course_id"])
            await message.answer(texts.COURSE_FINISHED.format(title=texts.esc(title)))
    for badge in badges:
        await message.answer(texts.badge_won(badge.emoji, badge.name, badge.description))
