"""Ask the course: typed questions (quota), tapped suggestions (free), /quota and /new."""

from __future__ import annotations

import logging
import uuid

import asyncpg
from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.chat_action import ChatActionSender

from bot.ui import keyboards, texts
from bot.ui.callbacks import AskCb
from bot.ui.markdown import to_blocks
from bot.ui.render import answer_long
from rag.service import MAX_QUESTION_CHARS, RagService, Reply
from storage import chat, quota, suggestions
from storage.chat import AskContext
from storage.users import User

log = logging.getLogger(__name__)

router = Router(name="ask")
router.message.filter(F.chat.type == "private")


def render(reply: Reply, ctx: AskContext) -> list[str]:
    ans = reply.answer
    if ans.mode == "unknown":
        text = texts.DONT_KNOW.format(course=texts.esc(ctx.course_title))
        return [text + (texts.DONT_KNOW_FREE if reply.refunded else "")]
    sources = [(c["n"], c["topic_title"], c["module_no"]) for c in reply.citations]
    quota_line = None
    if reply.quota is not None:
        quota_line = texts.QUOTA_LEFT.format(left=reply.quota.left, quota=reply.quota.quota,
                                             module=ctx.module_no)
    return texts.answer_messages(to_blocks(ans.text), mode=ans.mode, persona=ctx.persona,
                                 note=ans.note is not None, sources=sources,
                                 quota_line=quota_line)


async def _answer(
    message: Message, bot: Bot, conn: asyncpg.Connection, rag: RagService, ctx: AskContext,
    question: str, *, typed: bool, follow_from: uuid.UUID | None = None,
) -> None:
    def typing() -> ChatActionSender:
        return ChatActionSender.typing(bot=bot, chat_id=message.chat.id)

    try:
        reply = await rag.ask(conn, ctx, question, typed=typed, busy=typing)
    except Exception:
        log.exception("answering failed")
        await message.answer(texts.ASK_FAILED)
        return
    if reply.refused:
        offers = await suggestions.starters(conn, ctx.course_id, ctx.topic_id)
        template = texts.QUOTA_EXHAUSTED if offers else texts.QUOTA_EXHAUSTED_NO_SUGGESTIONS
        assert reply.quota is not None
        await message.answer(
            template.format(quota=reply.quota.quota, module=ctx.module_no,
                            title=texts.esc(ctx.module_title)),
            reply_markup=keyboards.suggestions(offers),
        )
        return
    offers = await suggestions.follow_ups(conn, follow_from) if follow_from else []
    if not offers:
        offers = await suggestions.starters(conn, ctx.course_id, ctx.topic_id, limit=2,
                                            exclude=follow_from)
    markup: InlineKeyboardMarkup | None = keyboards.suggestions(offers)
    await answer_long(message, render(reply, ctx), markup)
    if reply.session_id is not None:
        try:
            await rag.fold_if_due(conn, reply.session_id)
        except Exception:  # memory is a nicety: the answer is already out
            log.exception("folding the session summary failed")


@router.message(Command("quota"))
async def quota_cmd(message: Message, conn: asyncpg.Connection, user: User) -> None:
    ctx = await chat.ask_context(conn, user.id)
    if ctx is None:
        await message.answer(texts.ASK_NOT_ENROLLED)
        return
    state = await quota.status(conn, user.id, ctx.course_id, ctx.module_no)
    await message.answer(texts.QUOTA_STATUS.format(
        course=texts.esc(ctx.course_title), module=ctx.module_no,
        title=texts.esc(ctx.module_title), left=state.left, quota=state.quota))


@router.message(Command("new"))
async def new_session(message: Message, conn: asyncpg.Connection, user: User) -> None:
    ctx = await chat.ask_context(conn, user.id)
    if ctx is None:
        await message.answer(texts.ASK_NOT_ENROLLED)
        return
    await chat.start_fresh(conn, user.id, ctx.course_id, ctx.topic_id)
    await message.answer(texts.NEW_SESSION.format(
        topic=texts.esc(ctx.topic_title or ctx.course_title)))


@router.message(F.text, ~F.text.startswith("/"), F.text.len() <= MAX_QUESTION_CHARS)
async def typed_question(
    message: Message, bot: Bot, conn: asyncpg.Connection, user: User, rag: RagService
) -> None:
    ctx = await chat.ask_context(conn, user.id)
    if ctx is None:
        await message.answer(texts.ASK_NOT_ENROLLED)
        return
    await _answer(message, bot, conn, rag, ctx, (message.text or "").strip(), typed=True)


@router.callback_query(AskCb.filter())
async def tapped_suggestion(
    query: CallbackQuery, callback_data: AskCb, bot: Bot, conn: asyncpg.Connection, user: User,
    rag: RagService,
) -> None:
    try:
        suggestion_id = uuid.UUID(hex=callback_data.suggestion)
    except ValueError:
        suggestion_id = None
    found = await suggestions.get(conn, suggestion_id) if suggestion_id else None
    # The learner must be enrolled in the suggestion's course; the payload names no user.
    ctx = await chat.topic_context(conn, user.id, found.topic_id) if found else None
    if found is None or ctx is None or not isinstance(query.message, Message):
        await query.answer(texts.SUGGESTION_GONE, show_alert=True)
        return
    await query.answer()
    await query.message.answer(f"💡 <b>{texts.esc(found.text)}</b>")
    await _answer(query.message, bot, conn, rag, ctx, found.text, typed=False,
                  follow_from=found.id)
