"""Ask the course: typed questions (quota), tapped suggestions (free), /quota and /new."""

from __future__ import annotations

import logging
import uuid

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.filters import Enrolled
from bot.ui import keyboards, texts
from bot.ui.callbacks import AskCb
from bot.ui.markdown import to_blocks
from bot.ui.render import answer_long
from bot.ui.streaming import AnswerStream
from bot.ui.typing import typing
from rag.service import MAX_QUESTION_CHARS, RagService, Reply
from storage import chat, quota, suggestions
from storage.chat import AskContext
from storage.uow import Transactor
from storage.users import User

log = logging.getLogger(__name__)


def render(reply: Reply, ctx: AskContext) -> list[str]:
    ans = reply.answer
    if ans.mode == "unknown":
        text = texts.DONT_KNOW.format(course=texts.esc(ctx.course_title))
        return [text + (texts.DONT_KNOW_FREE if reply.refunded else "")]
    sources = [(c["n"], c["topic_title"], c["module_no"]) for c in reply.citations]
    quota_line = None
    if reply.quota is not None:
        quota_line = texts.quota_left(reply.quota.left, reply.quota.quota, ctx.module_no)
    return texts.answer_messages(to_blocks(ans.text), mode=ans.mode, persona=ctx.persona,
                                 note=ans.note is not None, sources=sources,
                                 quota_line=quota_line)


async def _answer(
    message: Message, bot: Bot, db: Transactor, rag: RagService, ctx: AskContext,
    question: str, *, typed: bool, lang: str, follow_from: uuid.UUID | None = None,
) -> None:
    # With an LLM the answer streams in (ask's router only sees private chats)
    stream = AnswerStream(bot, message.chat.id, message.message_id) \
        if rag.llm is not None and message.chat.type == "private" else None
    try:
        reply = await rag.ask(db, ctx, question, typed=typed,
                              busy=lambda: typing(bot, message.chat.id),
                              on_text=stream.update if stream else None, lang=lang)
    except Exception:
        log.exception("answering failed")
        await message.answer(texts.ASK_FAILED)
        return
    async with db.read() as conn:
        if reply.refused:
            offers = await suggestions.starters(conn, ctx.course_id, ctx.topic_id, lang=lang)
        else:
            offers = await suggestions.follow_ups(conn, follow_from, lang=lang) \
                if follow_from else []
            if not offers:
                offers = await suggestions.starters(conn, ctx.course_id, ctx.topic_id,
                                                    limit=2, exclude=follow_from, lang=lang)
    if reply.refused:
        assert reply.quota is not None
        await message.answer(
            texts.quota_exhausted(reply.quota.quota, ctx.module_no,
                                  texts.esc(ctx.module_title), suggestions=bool(offers)),
            reply_markup=keyboards.suggestions(offers),
        )
        return
    markup = keyboards.answer(reply.answer_id, offers)
    if stream is not None:
        await stream.finish(render(reply, ctx), markup)
    else:
        await answer_long(message, render(reply, ctx), markup)
    if reply.session_id is not None:
        try:
            await rag.fold_if_due(db, reply.session_id)
        except Exception:  # memory is a nicety: the answer is already out
            log.exception("folding the session summary failed")


async def quota_cmd(message: Message, db: Transactor, user: User, ctx: AskContext) -> None:
    async with db.read() as conn:
        state = await quota.status(conn, user.id, ctx.course_id, ctx.module_no)
    await message.answer(texts.QUOTA_STATUS.format(
        course=texts.esc(ctx.course_title), module=ctx.module_no,
        title=texts.esc(ctx.module_title), left=state.left, quota=state.quota))


async def new_session(message: Message, db: Transactor, user: User, ctx: AskContext) -> None:
    async with db.tx() as conn:
        await chat.start_fresh(conn, user.id, ctx.course_id, ctx.topic_id)
    await message.answer(texts.NEW_SESSION.format(
        topic=texts.esc(ctx.topic_title or ctx.course_title)))


async def typed_question(
    message: Message, bot: Bot, db: Transactor, rag: RagService, user: User, ctx: AskContext
) -> None:
    await _answer(message, bot, db, rag, ctx, (message.text or "").strip(), typed=True,
                  lang=user.locale)


async def not_enrolled(message: Message) -> None:
    await message.answer(texts.ASK_NOT_ENROLLED)


async def tapped_suggestion(
    query: CallbackQuery, callback_data: AskCb, bot: Bot, db: Transactor, user: User,
    rag: RagService,
) -> None:
    async with db.read() as conn:
        found = await suggestions.get(conn, callback_data.suggestion, user.locale)
        # The learner must be enrolled in the suggestion's course; the payload names no user.
        ctx = await chat.topic_context(conn, user.id, found.topic_id) if found else None
    if found is None or ctx is None or not isinstance(query.message, Message):
        await query.answer(texts.SUGGESTION_GONE, show_alert=True)
        return
    await query.answer()
    await query.message.answer(f"💡 <b>{texts.esc(found.text)}</b>")
    await _answer(query.message, bot, db, rag, ctx, found.text, typed=False,
                  lang=user.locale, follow_from=found.id)


def build_router() -> Router:
    """Registered after every other feature: any other private text is a question."""
    router = Router(name="ask")
    router.message.filter(F.chat.type == "private")
    question = (F.text, ~F.text.startswith("/"), F.text.len() <= MAX_QUESTION_CHARS)
    for handler, flt in ((quota_cmd, Command("quota")), (new_session, Command("new"))):
        router.message.register(handler, flt, Enrolled())
        router.message.register(not_enrolled, flt)
    router.message.register(typed_question, *question, Enrolled())
    router.message.register(not_enrolled, *question)
    router.callback_query.register(tapped_suggestion, AskCb.filter())
    return router
