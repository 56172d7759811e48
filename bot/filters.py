"""Role filters. Checked server-side from the database role on every update."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiogram.filters import CommandObject, Filter
from aiogram.types import CallbackQuery, Message

from bot.ui import texts
from bot.ui.replies import in_group, reply
from bot.workers.sender import RateLimitedSender
from storage import cohorts, tutors
from storage.cohorts import Cohort
from storage.users import User


class IsAdmin(Filter):
    """Passes for admins; everyone else is told no (and the handler never runs)."""

    async def __call__(self, event: Message | CallbackQuery, user: User | None = None) -> bool:
        if user is not None and user.is_admin:
            return True
        await event.answer(texts.NOT_ADMIN)
        return False


async def cohort_for(
    message: Message, conn: asyncpg.Connection, command: CommandObject | None, usage: str
) -> tuple[Cohort, str] | str:
    """The cohort a command is about and the arguments after it — or what to tell the user.

    In a group it is the cohort linked to that group; in a private chat the first argument
    names it."""
    args = (command.args or "").strip() if command else ""
    if in_group(message):
        cohort = await cohorts.get_by_chat(conn, message.chat.id)
        return (cohort, args) if cohort else texts.GROUP_NOT_LINKED
    name, _, rest = args.partition(" ")
    if not name:
        return usage
    cohort = await cohorts.get_by_name(conn, name)
    if cohort is None:
        return texts.UNKNOWN_COHORT.format(name=texts.esc(name[:64]))
    return cohort, rest.strip()


async def is_cohort_staff(conn: asyncpg.Connection, user: User, cohort: Cohort) -> bool:
    return user.is_admin or await tutors.is_course_tutor(conn, user.id, cohort.course_id)


class CohortStaff(Filter):
    """Admins and the active tutors of the cohort's course; an inactive cohort is refused to
    everyone. On success the handler gets `cohort` and `args` (the text after the cohort)."""

    def __init__(self, usage: str = texts.COLDCALL_USAGE) -> None:
        self.usage = usage

    async def __call__(
        self, message: Message, conn: asyncpg.Connection, command: CommandObject | None = None,
        user: User | None = None, sender: RateLimitedSender | None = None,
    ) -> bool | dict[str, Any]:
        if user is None:
            return False
        found = await cohort_for(message, conn, command, self.usage)
        if isinstance(found, str):
            await reply(message, found, sender)
            return False
        cohort, args = found
        if not await is_cohort_staff(conn, user, cohort):
            await reply(message, texts.NOT_COHORT_STAFF.format(
                course=texts.esc(cohort.course_title)), sender)
            return False
        if not cohort.is_active:
            await reply(message, texts.COHORT_INACTIVE.format(name=texts.esc(cohort.name)), sender)
            return False
        return {"cohort": cohort, "args": args}


class CohortMember(Filter):
    """Active members of the cohort plus its staff (as `CohortStaff`); passes `cohort`, `args`
    and `is_staff`. Silent in groups when refusing, so outsiders can't make the bot chatter."""

    def __init__(self, usage: str) -> None:
        self.usage = usage

    async def __call__(
        self, message: Message, conn: asyncpg.Connection, command: CommandObject | None = None,
        user: User | None = None, sender: RateLimitedSender | None = None,
    ) -> bool | dict[str, Any]:
        if user is None:
            return False
        found = await cohort_for(message, conn, command, self.usage)
        if isinstance(found, str):
            if not in_group(message):
                await reply(message, found, sender)
            return False
        cohort, args = found
        staff = await is_cohort_staff(conn, user, cohort)
        member = await cohorts.member_status(conn, cohort.id, user.id) == "active"
        if not (staff or member):
            if not in_group(message):
                await reply(message, texts.NOT_IN_COHORT.format(name=texts.esc(cohort.name)))
            return False
        if not cohort.is_active:
            await reply(message, texts.COHORT_INACTIVE.format(name=texts.esc(cohort.name)), sender)
            return False
        return {"cohort": cohort, "args": args, "is_staff": staff}
