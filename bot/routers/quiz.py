"""Module quizzes: /quiz, one question at a time as inline keyboards, cooldown after a fail."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

import asyncpg
from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.i18n import current
from bot.ui import keyboards, texts
from bot.ui.callbacks import QuizCb, QuizStartCb
from storage import courses, enrollments, quiz
from storage.completion import finish_course_if_complete
from storage.uow import Transactor
from storage.users import User

Out = list[tuple[str, object]]  # (text, reply_markup) to send once the unit of work committed


async def _send(message: Message, out: Out) -> None:
    for text, markup in out:
        await message.answer(text, reply_markup=markup)  # type: ignore[arg-type]


async def quiz_cmd(
    message: Message, db: Transactor, user: User, clock: Callable[[], datetime]
) -> None:
    now = clock()
    async with db.tx() as conn:
        mine = await enrollments.course_users_of(conn, user.id)
        out: Out = [(texts.NOT_ENROLLED if not mine else texts.QUIZ_NONE, None)]
        for cu in mine:
            module = await quiz.quiz_module(conn, user.id, cu.course_id)
            if module is not None:
                out = await begin(conn, user, cu.course_id, module, now)
                break
    await _send(message, out)


async def quiz_start_cb(
    query: CallbackQuery, callback_data: QuizStartCb, db: Transactor, user: User,
    clock: Callable[[], datetime],
) -> None:
    if not isinstance(query.message, Message):
        await query.answer()
        return
    async with db.tx() as conn:
        course = await courses.get_published(conn, course_id=callback_data.course)
        enrolled = {cu.course_id for cu in await enrollments.course_users_of(conn, user.id)}
        # only the quiz the learner is on now: a later module's is locked, an earlier one done
        allowed = (course is not None and course.id in enrolled
                   and await quiz.quiz_module(conn, user.id, course.id) == callback_data.module)
        out = await begin(conn, user, course.id, callback_data.module, clock()) \
            if allowed and course else []
    if not out:
        await query.answer(texts.BUTTON_STALE, show_alert=True)
        return
    await query.answer()
    await query.message.edit_reply_markup(reply_markup=None)
    await _send(query.message, out)


async def begin(conn: asyncpg.Connection, user: User, course_id: uuid.UUID, module: int,
                now: datetime) -> Out:
    result = await quiz.start(conn, user.id, course_id, module, now)
    if result.already_passed:
        return [(texts.QUIZ_PASSED_ALREADY.format(module=module), None)]
    if result.cooldown_until:
        return [(cooldown_text(module, result.cooldown_until, now, user.timezone), None)]
    if result.no_quiz or result.attempt is None:
        return [(texts.QUIZ_NONE, None)]
    attempt = result.attempt
    out: Out = []
    if attempt.index == 0:
        out.append((texts.quiz_start(module, attempt.module_title, attempt.total,
                                     await courses.pass_mark(conn, course_id)), None))
    return [*out, await question_of(conn, attempt, user.locale)]


def cooldown_text(module: int, until: datetime, now: datetime, tz: str) -> str:
    when = texts.fmt_at(until, tz)
    return texts.QUIZ_COOLDOWN.format(module=module, left=texts.duration(
        (until - now).total_seconds()), when=when)


async def question_of(conn: asyncpg.Connection, attempt: quiz.Attempt, lang: str
                      ) -> tuple[str, object]:
    q = await quiz.question(conn, uuid.UUID(attempt.question_ids[attempt.index]), lang)
    if q is None:
        return texts.QUIZ_GONE, None
    return (texts.quiz_question(attempt.module_no, attempt.index, attempt.total, q.prompt),
            keyboards.quiz_options(attempt.id, attempt.index,
                                   [text for _, text, _ in q.options]))


async def answer_cb(
    query: CallbackQuery, callback_data: QuizCb, db: Transactor, user: User,
    clock: Callable[[], datetime],
) -> None:
    now = clock()
    attempt_id = callback_data.attempt
    out: Out = []
    async with db.tx() as conn:
        result = await quiz.answer(conn, attempt_id, user.id, callback_data.q, callback_data.o,
                                   now, user.locale)
        if result is not None and result.recorded:
            if not result.finished:
                attempt = await quiz.attempt(conn, attempt_id, user.id)
                if attempt:
                    out.append(await question_of(conn, attempt, user.locale))
            else:
                out = await _finished(conn, user, attempt_id, result, now)
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
    await _send(message, out)


async def _finished(conn: asyncpg.Connection, user: User, attempt_id: uuid.UUID,
                    result: quiz.AnswerResult, now: datetime) -> Out:
    assert result.score is not None and result.passed is not None
    course_id, module_no = await quiz.attempt_scope(conn, attempt_id)
    cooldown = None
    if result.cooldown_until:
        cooldown = texts.fmt_at(result.cooldown_until, user.timezone)
    out: Out = [(texts.quiz_result(result.score, result.passed, result.pass_mark, module_no,
                                   cooldown, result.xp), None)]
    badges = list(result.badges)
    if result.module_completed:
        finished, won = await finish_course_if_complete(conn, user.id, course_id, now)
        badges += won
        if finished:
            title = await courses.title_of(conn, course_id, current())
            out.append((texts.COURSE_FINISHED.format(title=texts.esc(title)), None))
    out += [(texts.badge_won(b.emoji, b.name, b.description), None) for b in badges]
    return out


def build_router() -> Router:
    router = Router(name="quiz")
    router.message.filter(F.chat.type == "private")
    router.message.register(quiz_cmd, Command("quiz"))
    router.callback_query.register(quiz_start_cb, QuizStartCb.filter())
    router.callback_query.register(answer_cb, QuizCb.filter())
    return router
