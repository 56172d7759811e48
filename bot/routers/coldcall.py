"""Cold calls in a cohort's group: tutors post prompts, members reply (threaded), everyone in
the cohort stars answers (/star or a 👍/⭐ reaction), /top shows the best answers.

The bot must be an admin of the group (or have privacy mode off) to see replies to other
people's messages and reactions; commands and replies to its own posts it always sees."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import Message, MessageReactionUpdated, ReactionTypeEmoji

from bot.filters import CohortMember, CohortStaff, is_cohort_staff
from bot.i18n import speaking
from bot.ui import texts
from bot.ui.replies import GROUP_TYPES, reply
from bot.workers.sender import RateLimitedSender, SendFailed
from storage import cohorts, coldcalls, group_replies
from storage.cohorts import Cohort
from storage.group_replies import GroupReply
from storage.uow import Transactor
from storage.users import User

log = logging.getLogger(__name__)

STAR_EMOJI = frozenset({"👍", "⭐", "🌟"})
TOP_USAGE = "Usage: <code>/top</code> in the cohort's group, or <code>/top &lt;cohort&gt;</code>."
in_groups = F.chat.type.in_(GROUP_TYPES)


async def coldcall(
    message: Message, bot: Bot, db: Transactor, user: User, cohort: Cohort, args: str,
    sender: RateLimitedSender,
) -> None:
    if not args:
        await reply(message, texts.COLDCALL_USAGE, sender)
        return
    if cohort.telegram_chat_id is None:
        await reply(message, texts.COLDCALL_NOT_LINKED.format(name=texts.esc(cohort.name)), sender)
        return
    async with db.tx() as conn:  # the draft commits before the group post is attempted
        found = await coldcalls.resolve_topic(conn, cohort.course_id, args)
        draft = (await coldcalls.start_post(conn, cohort, found[0].id, user.id)
                 if len(found) == 1 else None)
    if len(found) != 1:
        await reply(message, _topic_problem(cohort, args, found), sender)
        return
    topic = found[0]
    if draft is None:
        await reply(message, texts.TOPIC_NO_PROMPTS.format(title=texts.esc(topic.title)), sender)
        return
    text = texts.COLDCALL_POST.format(topic=texts.esc(draft.topic_title),
                                      prompt=texts.esc(draft.prompt))
    chat_id, thread_id = cohort.telegram_chat_id, cohort.telegram_thread_id
    try:
        posted = await sender.send(chat_id, lambda: bot.send_message(
            chat_id, text, message_thread_id=thread_id))
    except SendFailed as exc:
        async with db.tx() as conn:
            await coldcalls.discard_post(conn, draft.post_id)
        await reply(message, texts.COLDCALL_FAILED.format(reason=texts.esc(str(exc))), sender)
        return
    async with db.tx() as conn:
        await coldcalls.confirm_post(conn, draft.post_id, posted.message_id)
        # learners quick enough to answer before the post was confirmed were kept waiting
        await group_replies.link_waiting(conn, chat_id, posted.message_id, cohort)
    if message.chat.id != chat_id:  # called privately: confirm there; the group sees the post
        await message.answer(texts.COLDCALL_POSTED.format(
            order=draft.display_order, total=draft.prompts_total,
            topic=texts.esc(draft.topic_title), name=texts.esc(cohort.name)))


def _topic_problem(cohort: Cohort, ref: str, found: list[coldcalls.TopicRef]) -> str:
    if not found:
        return texts.TOPIC_UNKNOWN.format(course=texts.esc(cohort.course_title),
                                          ref=texts.esc(ref[:80]))
    options = ", ".join(f"{t.module_no}.{t.topic_number} {texts.esc(t.title)}"
                        for t in found[:8])
    example = f"{found[0].module_no}.{found[0].topic_number}"
    return texts.TOPIC_AMBIGUOUS.format(ref=texts.esc(ref[:80]), options=options,
                                        example=example)


async def top(
    message: Message, db: Transactor, cohort: Cohort, sender: RateLimitedSender
) -> None:
    async with db.read() as conn:
        current = await coldcalls.current_prompt(conn, cohort.id)
        answers = await coldcalls.top_answers(conn, current.post_id) if current else []
    if current is None:
        await reply(message, texts.TOP_NOTHING_POSTED.format(name=texts.esc(cohort.name)), sender)
        return
    await reply(message, texts.top_answers(current.topic_title, current.prompt, answers,
                                           current.answers), sender)


async def star(
    message: Message, db: Transactor, user: User, cohort: Cohort,
    sender: RateLimitedSender,
) -> None:
    replied = message.reply_to_message
    if replied is None:
        await reply(message, texts.STAR_USAGE, sender)
        return
    async with db.tx() as conn:
        target = await coldcalls.find_target(conn, message.chat.id, replied.message_id)
        problem = None
        if (target is None or target.kind != "message" or target.cohort_id != cohort.id
                or target.message_id is None):
            problem = texts.STAR_NOT_ANSWER
        elif target.author_id == user.id:
            problem = texts.STAR_OWN
        else:
            result = await coldcalls.set_star(conn, target.message_id, user.id, None)
    if problem is not None:
        await reply(message, problem, sender)
        return
    await reply(message, texts.starred(result.stars, result.starred), sender)


async def star_private(message: Message) -> None:
    await message.answer(texts.STAR_USAGE)


def _body(message: Message) -> str:
    if message.text or message.caption:
        return (message.text or message.caption or "")[:4096]
    for kind in ("photo", "video", "voice", "audio", "document", "sticker", "video_note"):
        if getattr(message, kind, None):
            return f"[{kind.replace('_', ' ')}]"
    return "[message]"


async def group_reply(
    message: Message, bot: Bot, db: Transactor, sender: RateLimitedSender,
    clock: Callable[[], datetime], user: User | None = None,
) -> None:
    """A reply in a linked group: the use case is `storage.group_replies.take_reply`; here,
    what Telegram's message says, and the hint for an outsider who answered one of ours."""
    replied = message.reply_to_message
    if user is None or replied is None or (message.text or "").startswith("/"):
        return
    reply_of = GroupReply(chat_id=message.chat.id, telegram_message_id=message.message_id,
                          reply_to_message_id=replied.message_id, body=_body(message))
    async with db.tx() as conn:
        outcome = await group_replies.take_reply(
            conn, reply_of, user_id=user.id, is_admin=user.is_admin,
            may_wait=lambda cohort: _may_wait(message, cohort, bot.id), at=clock())
    if outcome is not None and outcome.outsider:
        await _tell_how_to_join(bot, sender, message, outcome.cohort, user.locale)


def _may_wait(message: Message, cohort: Cohort, bot_id: int) -> bool:
    """Only a reply in the cohort's own thread to a message sent moments before it (one its
    reply overtook) waits for its parent; replies to older messages or to other bots are
    none of ours. In a forum topic, a message that replies to nothing points at the topic's
    first message: that is no reply. (In a group without topics a reply's thread id is its
    thread's first message, often the prompt post itself: that reply may well wait.)"""
    replied = message.reply_to_message
    if replied is None:
        return False
    if cohort.telegram_thread_id is not None and \
            message.message_thread_id != cohort.telegram_thread_id:
        return False
    if replied.forum_topic_created is not None or (
            message.is_topic_message and replied.message_id == message.message_thread_id):
        return False
    author = replied.from_user
    if author is not None and author.is_bot and author.id != bot_id:
        return False
    return abs((message.date - replied.date).total_seconds()) <= coldcalls.WAIT_FOR_PARENT_SECONDS


# When each outsider was last told how to join a cohort: once a day is helpful, every reply
# would be spam. Per process, like the flood control.
_hinted: dict[tuple[int, object], float] = {}
HINT_EVERY_SECONDS = 24 * 3600


async def _tell_how_to_join(
    bot: Bot, sender: RateLimitedSender, message: Message, cohort: Cohort, locale: str
) -> None:
    """Privately, so the group stays quiet, and in their own language (the update came from a
    group, which speaks English); if they never started the bot, Telegram refuses and that is
    fine."""
    if message.from_user is None:
        return
    chat_id = message.from_user.id
    now = time.monotonic()
    if now - _hinted.get((chat_id, cohort.id), -HINT_EVERY_SECONDS) < HINT_EVERY_SECONDS:
        return
    if len(_hinted) > 10_000:
        for key in [k for k, t in _hinted.items() if now - t >= HINT_EVERY_SECONDS]:
            del _hinted[key]
        for key in list(_hinted)[:len(_hinted) - 10_000]:  # still too many: the oldest go
            del _hinted[key]
    _hinted.pop((chat_id, cohort.id), None)  # re-inserted last: the dict stays time-ordered
    _hinted[(chat_id, cohort.id)] = now
    with speaking(locale):
        text = texts.NOT_MEMBER_DM.format(group=texts.esc(message.chat.title or texts.THE_GROUP),
                                          name=texts.esc(cohort.name))
    try:
        await sender.send(chat_id, lambda: bot.send_message(chat_id, text))
    except SendFailed as exc:
        log.info("could not tell %s how to join: %s", chat_id, exc)


async def edited_reply(message: Message, db: Transactor, user: User | None = None
                       ) -> None:
    if user is not None:
        async with db.tx() as conn:
            await coldcalls.edit_body(conn, message.chat.id, message.message_id, user.id,
                                      _body(message))


def _stars_in(reactions: list) -> bool:
    return any(isinstance(r, ReactionTypeEmoji) and r.emoji in STAR_EMOJI for r in reactions)


async def reaction(
    event: MessageReactionUpdated, db: Transactor, user: User | None = None
) -> None:
    """👍/⭐ on a recorded answer sets the reacting member's star; taking it off removes it."""
    before, after = _stars_in(event.old_reaction), _stars_in(event.new_reaction)
    if user is None or before == after:
        return
    async with db.tx() as conn:
        cohort = await cohorts.get_by_chat(conn, event.chat.id)
        if cohort is None or not cohort.is_active:
            return
        target = await coldcalls.find_target(conn, event.chat.id, event.message_id)
        if target is None or target.kind != "message" or target.cohort_id != cohort.id:
            return
        if target.author_id == user.id or target.message_id is None:
            return
        allowed = await is_cohort_staff(conn, user, cohort) or \
            await cohorts.member_status(conn, cohort.id, user.id) == "active"
        if allowed:
            await coldcalls.set_star(conn, target.message_id, user.id, after)


def build_router() -> Router:
    router = Router(name="coldcall")
    router.message.register(coldcall, Command("coldcall"), CohortStaff(usage=texts.COLDCALL_USAGE))
    router.message.register(top, Command("top"), CohortMember(usage=TOP_USAGE))
    router.message.register(star, Command("star"), in_groups, CohortMember(usage=texts.STAR_USAGE))
    router.message.register(star_private, Command("star"), F.chat.type == "private")
    router.message.register(group_reply, in_groups, F.reply_to_message)
    router.edited_message.register(edited_reply, in_groups)
    router.message_reaction.register(reaction, in_groups)
    return router
