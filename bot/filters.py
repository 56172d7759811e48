"""Role and context filters. Pure: each answers "does this handler apply?" from the database
role, returns what the handler needs, and never replies. Refusals are said by one handler per
role (`refusals.py`), after every handler its role guards.

Checked server-side on every update; a button's payload never names who is acting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiogram import Router
from aiogram.dispatcher.event.handler import FilterObject
from aiogram.filters import Command, CommandObject, Filter
from aiogram.types import CallbackQuery, Message, TelegramObject

from bot.ui import texts
from bot.ui.replies import in_group
from storage import chat, cohorts, courses, tutors
from storage.cohorts import Cohort
from storage.uow import Transactor
from storage.users import User


def inline_sync_filters(router: Router) -> Router:
    """Run `router`'s synchronous filters (every `F...` magic filter) on the event loop.

    aiogram hands each synchronous filter to `asyncio.to_thread`: a thread-pool round trip
    for every check of `F.chat.type == "private"` on every update. Ours are pure attribute
    tests, so their answer is the same inline, at a fraction of the cost."""
    for observer in router.observers.values():
        for handler in (observer._handler, *observer.handlers):
            for flt in handler.filters or ():
                if not flt.awaitable:
                    flt.callback = _inline(flt.callback)
                    flt.awaitable = True
    for sub in router.sub_routers:
        inline_sync_filters(sub)
    return router


def gate_commands(router: Router) -> Router:
    """When every message handler of `router` needs one of a known set of commands, check the
    message's command against that set once, before any handler's filters.

    aiogram tries each handler's filters in turn, so an update for a command that a router
    doesn't have paid for parsing it once per handler (two dozen `Command` checks for
    /help before it reaches its router). The gate is only a shortcut: it turns away exactly
    the messages none of the router's `Command` filters could accept (same prefix, same
    case-sensitive name, the part before `@`), so which handler answers never changes. A
    router with sub-routers, or with a handler that takes non-command messages, or with a
    regexp, case-insensitive or other-prefix `Command`, gets no gate."""
    observer = router.message
    if router.sub_routers or not observer.handlers:
        return router
    names: set[str] = set()
    for handler in observer.handlers:
        commands = [f.callback for f in handler.filters or () if isinstance(f.callback, Command)]
        if not commands:
            return router
        flt = commands[0]
        if flt.prefix != "/" or flt.ignore_case or not all(isinstance(c, str)
                                                           for c in flt.commands):
            return router
        names.update(flt.commands)
    gate = FilterObject(CommandGate(frozenset(names)))
    observer._handler.filters = [gate, *(observer._handler.filters or ())]
    return router


class CommandGate(Filter):
    """Passes a message whose text (or caption) starts with /<one of names>[@...]."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    async def __call__(self, event: TelegramObject) -> bool:
        if not isinstance(event, Message):
            return False
        words = (event.text or event.caption or "").split(maxsplit=1)
        # as `Command.extract_command`: the first word, its prefix, the name before "@"
        return bool(words) and words[0][0] == "/" and \
            words[0][1:].partition("@")[0] in self.names


def _inline(check: Callable[..., Any]) -> Callable[..., Any]:
    async def inline(*args: Any, **kwargs: Any) -> Any:
        return check(*args, **kwargs)

    return inline


class IsAdmin(Filter):
    async def __call__(self, event: Message | CallbackQuery, user: User | None = None) -> bool:
        return user is not None and user.is_admin


class Enrolled(Filter):
    """Learners enrolled in a course; passes `ctx` (their current course, module and topic —
    see `storage.chat.ask_context`). The not-enrolled reply is the handler's fallback below."""

    async def __call__(self, message: Message, db: Transactor, user: User | None = None
                       ) -> bool | dict[str, Any]:
        if user is None:
            return False
        async with db.read() as conn:
            ctx = await chat.ask_context(conn, user.id)
        return {"ctx": ctx} if ctx is not None else False


class CourseArg(Filter):
    """The course named by the command's first argument (its slug); passes `course` and
    `args` (the rest). An unknown or missing slug doesn't pass: the command's usage handler
    answers."""

    async def __call__(self, message: Message, db: Transactor,
                       command: CommandObject | None = None) -> bool | dict[str, Any]:
        slug, _, rest = ((command.args or "").strip() if command else "").partition(" ")
        if not slug:
            return False
        async with db.read() as conn:
            course = await courses.get_by_slug(conn, slug)
        return {"course": course, "args": rest.strip()} if course else False


class CourseStaff(CourseArg):
    """As `CourseArg`, for admins and the course's active tutors only."""

    async def __call__(self, message: Message, db: Transactor,  # type: ignore[override]
                       command: CommandObject | None = None, user: User | None = None,
                       ) -> bool | dict[str, Any]:
        found = await super().__call__(message, db, command)
        if not found or user is None or not isinstance(found, dict):
            return False
        if user.is_admin:
            return found
        async with db.read() as conn:
            tutor = await tutors.is_course_tutor(conn, user.id, found["course"].id)
        return found if tutor else False


@dataclass(frozen=True)
class CohortAccess:
    """Who may act on which cohort, for one command: the cohort and the remaining arguments,
    or the reason why not (shown by the refusal handler)."""

    cohort: Cohort | None = None
    args: str = ""
    is_staff: bool = False
    is_member: bool = False
    reason: str | None = None


async def cohort_access(
    conn: asyncpg.Connection, message: Message, user: User, command: CommandObject | None,
    usage: str,
) -> CohortAccess:
    """In a group the cohort is the one linked to it; in private the first argument names it."""
    args = (command.args or "").strip() if command else ""
    if in_group(message):
        cohort = await cohorts.get_by_chat(conn, message.chat.id)
        if cohort is None:
            return CohortAccess(reason=texts.GROUP_NOT_LINKED)
    else:
        name, _, args = args.partition(" ")
        if not name:
            return CohortAccess(reason=usage)
        cohort = await cohorts.get_by_name(conn, name)
        if cohort is None:
            return CohortAccess(reason=texts.UNKNOWN_COHORT.format(name=texts.esc(name[:64])))
    staff = await is_cohort_staff(conn, user, cohort)
    member = staff or await cohorts.member_status(conn, cohort.id, user.id) == "active"
    return CohortAccess(cohort, args.strip(), staff, member)


async def is_cohort_staff(conn: asyncpg.Connection, user: User, cohort: Cohort) -> bool:
    return user.is_admin or await tutors.is_course_tutor(conn, user.id, cohort.course_id)


class _CohortRole(Filter):
    staff_only = False

    def __init__(self, usage: str = texts.COLDCALL_USAGE) -> None:
        self.usage = usage

    async def __call__(
        self, message: Message, db: Transactor, command: CommandObject | None = None,
        user: User | None = None,
    ) -> bool | dict[str, Any]:
        if user is None:
            return False
        async with db.read() as conn:
            access = await cohort_access(conn, message, user, command, self.usage)
        allowed = access.is_staff if self.staff_only else access.is_member
        if access.cohort is None or not access.cohort.is_active or not allowed:
            return False
        return {"cohort": access.cohort, "args": access.args, "is_staff": access.is_staff}


class CohortStaff(_CohortRole):
    """Admins and the active tutors of the cohort's course, for an active cohort; passes
    `cohort`, `args` (the text after the cohort) and `is_staff`."""

    staff_only = True


class CohortMember(_CohortRole):
    """Active members of an active cohort, plus its staff (as `CohortStaff`)."""


def refusal_reason(access: CohortAccess, *, staff_only: bool) -> str:
    """What the refusal handler says when a cohort filter didn't pass."""
    cohort = access.cohort
    if access.reason is not None or cohort is None:
        return access.reason or texts.STAFF_ONLY
    if staff_only and not access.is_staff:
        return texts.NOT_COHORT_STAFF.format(course=texts.esc(cohort.course_title))
    if not access.is_member:
        return texts.NOT_IN_COHORT.format(name=texts.esc(cohort.name))
    return texts.COHORT_INACTIVE.format(name=texts.esc(cohort.name))
