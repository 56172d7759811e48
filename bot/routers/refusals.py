"""One refusal per role, after every handler that role guards: the filters only decide, this
says no. Registered after the feature routers, so a command a filter refused lands here
instead of the question or unknown-command handlers."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from bot.filters import cohort_access, refusal_reason
from bot.routers.admin import ADMIN_ONLY
from bot.routers.coldcall import TOP_USAGE
from bot.ui import texts
from bot.ui.callbacks import BroadcastCb
from bot.ui.replies import in_group, reply
from bot.workers.sender import RateLimitedSender
from storage import cohorts, courses
from storage.uow import Transactor
from storage.users import User

ADMIN_COMMANDS = (*ADMIN_ONLY, "cohort_new", "cohort_open", "cohort_close", "link")
# command → (usage, staff only?)
COHORT_COMMANDS = {
    "coldcall": (texts.COLDCALL_USAGE, True),
    "cohort_add": (texts.COHORT_ADD_USAGE, True),
    "project": (texts.PROJECT_USAGE, True),
    "top": (TOP_USAGE, False),
    "star": (texts.STAR_USAGE, False),
}


async def not_admin(event: Message | CallbackQuery, db: Transactor,
                    sender: RateLimitedSender) -> None:
    if isinstance(event, CallbackQuery):
        await event.answer(texts.NOT_ADMIN, show_alert=True)
        return
    if in_group(event):
        if not await _linked(db, event.chat.id):
            return  # a group that isn't a cohort's hears nothing from us
        await reply(event, texts.NOT_ADMIN, sender)
        return
    await event.answer(texts.NOT_ADMIN)


async def _linked(db: Transactor, chat_id: int) -> bool:
    async with db.read() as conn:
        return await cohorts.get_by_chat(conn, chat_id) is not None


async def not_cohort_role(
    message: Message, command: CommandObject, db: Transactor, sender: RateLimitedSender,
    user: User | None = None,
) -> None:
    usage, staff_only = COHORT_COMMANDS[command.command]
    if user is None:
        return
    async with db.read() as conn:
        access = await cohort_access(conn, message, user, command, usage)
    if in_group(message) and (
        (access.cohort is None and not user.is_admin) or (not staff_only and not access.is_member)
    ):
        return  # outsiders, and non-admins in groups that aren't a cohort's, get silence
    await reply(message, refusal_reason(access, staff_only=staff_only), sender)


async def not_course_staff(message: Message, command: CommandObject, db: Transactor) -> None:
    """/downvoted without a course, with an unknown one, or from someone who isn't its tutor."""
    slug = (command.args or "").split(maxsplit=1)[0] if command.args else ""
    if not slug:
        await message.answer(texts.DOWNVOTED_USAGE)
        return
    async with db.read() as conn:
        course = await courses.get_by_slug(conn, slug)
    if course is None:
        await message.answer(texts.UNKNOWN_COURSE.format(slug=texts.esc(slug[:64])))
        return
    await message.answer(texts.NOT_COHORT_STAFF.format(course=texts.esc(course.title)))


def build_router() -> Router:
    router = Router(name="refusals")
    router.message.register(not_course_staff, Command("downvoted"))
    router.message.register(not_admin, Command(*ADMIN_COMMANDS))
    router.message.register(not_admin, Command("quota", magic=F.args))
    router.callback_query.register(not_admin, BroadcastCb.filter())
    router.message.register(not_cohort_role, Command(*COHORT_COMMANDS))
    return router
