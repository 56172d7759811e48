"""Cohorts: create and link groups (admins), members and batch projects (the course's tutors),
and joining by a personal invite link (/start join_<code>, handled with start.py)."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message

from bot.filters import CohortStaff, IsAdmin
from bot.i18n import current
from bot.parsing import (
    COHORT_NAME,
    Members,
    members_from_args,
    members_from_csv,
    project_from_args,
)
from bot.ui import texts
from bot.ui.render import answer_long
from bot.ui.replies import in_group, reply
from bot.workers.sender import RateLimitedSender
from storage import cohorts, courses, enrollments, tutors
from storage.cohorts import Cohort, MemberRow
from storage.uow import Transactor
from storage.users import User

MAX_CSV_BYTES = 512 * 1024
INLINE_INVITES = 20  # more new members than this get their links as a CSV file
COMMANDS = ("cohort_new", "cohort_open", "cohort_close", "cohorts", "link", "cohort_add",
            "project")


async def cohort_new(message: Message, command: CommandObject, db: Transactor) -> None:
    args = (command.args or "").split()
    if len(args) != 2:
        await message.answer(texts.COHORT_NEW_USAGE)
        return
    slug, name = args
    if not COHORT_NAME.match(name):
        await message.answer(texts.COHORT_BAD_NAME)
        return
    async with db.tx() as conn:
        course = await courses.get_by_slug(conn, slug)
        cohort = await cohorts.create(conn, course.id, name) if course else None
    if course is None:
        await message.answer(texts.UNKNOWN_COURSE.format(slug=texts.esc(slug[:64])))
        return
    if cohort is None:
        await message.answer(texts.COHORT_EXISTS.format(name=texts.esc(name)))
        return
    await message.answer(texts.COHORT_CREATED.format(name=texts.esc(name),
                                                     course=texts.esc(course.title)))


async def cohort_open_close(
    message: Message, command: CommandObject, db: Transactor
) -> None:
    name = (command.args or "").strip()
    active = command.command == "cohort_open"
    async with db.tx() as conn:
        cohort = await cohorts.get_by_name(conn, name) if name else None
        changed = cohort is not None and await cohorts.set_active(conn, cohort.id, active)
    if cohort is None:
        await message.answer(texts.UNKNOWN_COHORT.format(name=texts.esc(name[:64])))
        return
    if not changed:
        already = texts.COHORT_ALREADY_ACTIVE if active else texts.COHORT_ALREADY_INACTIVE
        await message.answer(already.format(name=texts.esc(cohort.name)))
        return
    template = texts.COHORT_OPENED if active else texts.COHORT_CLOSED
    await message.answer(template.format(name=texts.esc(cohort.name)))


async def cohorts_cmd(message: Message, db: Transactor, user: User) -> None:
    async with db.read() as conn:
        course_ids = None if user.is_admin else await tutors.tutored_course_ids(conn, user.id)
        items = await cohorts.summaries(conn, course_ids) if course_ids != [] else None
    if items is None:
        await message.answer(texts.STAFF_ONLY)
        return
    await answer_long(message, texts.cohorts_list(items))


async def link(message: Message, command: CommandObject, db: Transactor,
               sender: RateLimitedSender) -> None:
    if not in_group(message):
        await message.answer(texts.LINK_IN_GROUP)
        return
    name = (command.args or "").strip()
    if not name:
        await reply(message, texts.LINK_USAGE, sender)
        return
    # In a forum group the topic the command came from is where cold calls will go.
    thread = message.message_thread_id if message.is_topic_message else None
    async with db.tx() as conn:
        cohort = await cohorts.get_by_name(conn, name)
        old = None
        if cohort is not None and cohort.is_active:
            old = await cohorts.link_chat(conn, cohort.id, message.chat.id, thread)
    if cohort is None:
        await reply(message, texts.UNKNOWN_COHORT.format(name=texts.esc(name[:64])), sender)
        return
    if not cohort.is_active:
        await reply(message, texts.COHORT_INACTIVE.format(name=texts.esc(cohort.name)), sender)
        return
    await reply(message, texts.LINKED.format(
        name=texts.esc(cohort.name), course=texts.esc(cohort.course_title),
        where=texts.LINKED_THREAD if thread else "",
        moved=texts.LINK_MOVED.format(old=texts.esc(old)) if old else "",
    ), sender)


async def cohort_add(
    message: Message, bot: Bot, db: Transactor, cohort: Cohort, args: str
) -> None:
    doc = message.document
    if doc is not None:
        if doc.file_size and doc.file_size > MAX_CSV_BYTES:
            await message.answer(texts.CSV_TOO_BIG.format(limit=MAX_CSV_BYTES // 1024))
            return
        buffer = io.BytesIO()
        await bot.download(doc, destination=buffer)
        parsed = members_from_csv(buffer.getvalue())
        extra = members_from_args(args)  # a caption may still set emails, batch or status
        parsed.members += extra.members
        parsed.problems += extra.problems
    else:
        parsed = members_from_args(args)
    if not parsed.members and not parsed.problems:
        await message.answer(texts.COHORT_ADD_USAGE)
        return
    async with db.tx() as conn:
        rows = await cohorts.add_members(conn, cohort.id, parsed.members)
    await _report_members(message, bot, cohort, rows, parsed)


async def _report_members(
    message: Message, bot: Bot, cohort: Cohort, rows: list[MemberRow], parsed: Members
) -> None:
    added = sum(r.created for r in rows)
    text = texts.MEMBERS_ADDED.format(name=texts.esc(cohort.name), added=added,
                                      updated=len(rows) - added)
    if parsed.problems:
        shown = parsed.problems[:20]
        lines = "\n".join(f"• {texts.esc(p)}" for p in shown)
        if len(parsed.problems) > len(shown):
            lines += f"\n… and {len(parsed.problems) - len(shown)} more"
        text += "\n" + texts.MEMBERS_REJECTED.format(count=len(parsed.problems), lines=lines)
    unbound = [r for r in rows if not r.bound and r.status != "removed"]
    me = await bot.me()
    links = [(r, f"https://t.me/{me.username}?start=join_{r.invite_code}") for r in unbound]
    if links and len(links) <= INLINE_INVITES:
        text += "\n\n" + texts.INVITES_HEADER + "\n" + "\n".join(
            f"{texts.esc(r.email)} — {url}" for r, url in links)
    await answer_long(message, text)
    if len(links) > INLINE_INVITES:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["email", "batch", "status", "invite_link"])
        writer.writerows([r.email, r.batch_no, r.status, url] for r, url in links)
        await message.answer_document(
            BufferedInputFile(out.getvalue().encode(), filename=f"invites-{cohort.name}.csv"),
            caption=texts.invites_caption(len(links), cohort.name),
        )


async def project(message: Message, db: Transactor, cohort: Cohort, args: str) -> None:
    parsed = project_from_args(args)
    if parsed == "url":
        await message.answer(texts.PROJECT_BAD_URL)
        return
    if isinstance(parsed, str):
        await message.answer(texts.PROJECT_USAGE)
        return
    async with db.tx() as conn:
        await cohorts.set_project(conn, cohort.id, parsed.batch_no, parsed.title, parsed.url)
    await message.answer(texts.PROJECT_SET.format(
        batch=parsed.batch_no, name=texts.esc(cohort.name), title=texts.esc(parsed.title)))


async def join(
    message: Message, db: Transactor, user: User, code: str, now: datetime
) -> None:
    """`/start join_<code>`: bind the membership to this user and enroll them in the course,
    in one unit of work (a seat is never bound without its enrollment)."""
    async with db.tx() as conn:
        result = await cohorts.bind_invite(conn, code[:64], user.id, now)
        cohort = result.cohort
        title = ""
        if result.outcome in ("joined", "already") and cohort is not None:
            await enrollments.enroll(conn, user.id, cohort.course_id, now)
            title = await courses.title_of(conn, cohort.course_id, current())
    name = texts.esc(cohort.name) if cohort else ""
    if result.outcome in ("joined", "already") and cohort is not None:
        template = texts.JOINED if result.outcome == "joined" else texts.JOIN_ALREADY
        await message.answer(template.format(name=name, course=texts.esc(title),
                                             batch=result.batch_no))
        return
    await message.answer({
        "taken": texts.JOIN_TAKEN,
        "removed": texts.JOIN_REMOVED,
        "inactive": texts.JOIN_INACTIVE,
        "other_seat": texts.JOIN_OTHER_SEAT,
    }.get(result.outcome, texts.JOIN_UNKNOWN).format(name=name))



def build_router() -> Router:
    router = Router(name="cohort")
    router.message.register(cohort_new, Command("cohort_new"), IsAdmin())
    router.message.register(cohort_open_close, Command("cohort_open", "cohort_close"), IsAdmin())
    router.message.register(cohorts_cmd, Command("cohorts"))
    router.message.register(link, Command("link"), IsAdmin())
    router.message.register(cohort_add, Command("cohort_add"),
                            CohortStaff(usage=texts.COHORT_ADD_USAGE))
    router.message.register(project, Command("project"), CohortStaff(usage=texts.PROJECT_USAGE))
    return router
