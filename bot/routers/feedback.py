"""Feedback on answers: 👍/👎 under each answer (one vote per learner and answer, changeable),
and /downvoted for a course's tutors and admins to see what to fix in the material."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.filters import CourseStaff
from bot.ui import keyboards, texts
from bot.ui.callbacks import VoteCb
from bot.ui.render import answer_long
from storage import feedback
from storage.courses import CourseRow
from storage.uow import Transactor
from storage.users import User

DOWNVOTED_SHOWN = 10


async def vote(query: CallbackQuery, callback_data: VoteCb, db: Transactor, user: User) -> None:
    helpful = callback_data.v == "up"
    async with db.tx() as conn:
        # the payload names the answer; whether this user may vote on it is checked here
        outcome = await feedback.vote(conn, callback_data.answer, user.id, helpful)
    if outcome == "refused":
        await query.answer(texts.VOTE_REFUSED, show_alert=True)
        return
    await query.answer(texts.VOTE_SAME if outcome == "same" else texts.VOTE_THANKS[helpful])
    message = query.message
    if outcome != "same" and isinstance(message, Message) and message.reply_markup:
        await message.edit_reply_markup(
            reply_markup=keyboards.mark_vote(message.reply_markup, helpful))


async def downvoted(message: Message, db: Transactor, course: CourseRow) -> None:
    async with db.read() as conn:
        answers = await feedback.downvoted_answers(conn, course.id, limit=DOWNVOTED_SHOWN)
    if not answers:
        await message.answer(texts.DOWNVOTED_NONE.format(title=texts.esc(course.title)))
        return
    await answer_long(message, texts.downvoted_list(course.title, answers))


def build_router() -> Router:
    router = Router(name="feedback")
    router.callback_query.register(vote, VoteCb.filter())
    router.message.register(downvoted, Command("downvoted"), CourseStaff())
    return router
