"""Admin commands. Every handler here is behind `IsAdmin` (the database role).

The console: /import, /grant and /revoke, /broadcast (confirm, live progress, stop), /stats,
/export, /page and /quota."""

from __future__ import annotations

import asyncio
import io
import logging
import uuid
from collections.abc import Callable
from datetime import datetime

import asyncpg
from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, CallbackQuery, Message

from bot.config import Settings
from bot.filters import IsAdmin
from bot.parsing import html_after_words
from bot.ui import charts, keyboards, texts
from bot.ui.callbacks import BroadcastCb
from bot.ui.menus import set_role_commands
from bot.ui.render import answer_long
from bot.workers.broadcast import Broadcaster
from bot.workers.sender import RateLimitedSender, SendFailed
from content.course_format import MAX_ZIP_BYTES, CourseError, load_course_zip
from content.importer import import_source
from rag.service import RagService
from storage import broadcasts, cohorts, courses, pages, tutors
from storage import stats as course_stats
from storage.users import User

log = logging.getLogger(__name__)

router = Router(name="admin")


@router.message(Command("import"), IsAdmin())
async def import_zip(
    message: Message, bot: Bot, pool: asyncpg.Pool, rag: RagService
) -> None:
    doc = message.document
    if doc is None or not (doc.file_name or "").lower().endswith(".zip"):
        await message.answer(texts.IMPORT_USAGE)
        return
    if doc.file_size and doc.file_size > MAX_ZIP_BYTES:
        await message.answer(texts.IMPORT_FAILED.format(
            count=1, s="", problems=f"{texts.esc(doc.file_name or '')} is larger than 20 MB"))
        return
    buffer = io.BytesIO()
    await bot.download(doc, destination=buffer)
    try:
        src = load_course_zip(buffer.getvalue(), doc.file_name or "course.zip")
    except CourseError as exc:
        shown = exc.problems[:30]
        lines = "\n".join(f"• {texts.esc(str(p))}" for p in shown)
        if len(exc.problems) > len(shown):
            lines += f"\n… and {len(exc.problems) - len(shown)} more"
        await message.answer(texts.IMPORT_FAILED.format(
            count=len(exc.problems), s="" if len(exc.problems) == 1 else "s", problems=lines))
        return
    report = await import_source(pool, src, embedder=rag.embedder)  # passages re-embedded
    await message.answer(texts.IMPORT_OK.format(summary=texts.esc(report.summary())))


# --- roles -----------------------------------------------------------------------------------

@router.message(Command("grant"), IsAdmin())
async def grant(
    message: Message, command: CommandObject, bot: Bot, conn: asyncpg.Connection
) -> None:
    args = (command.args or "").split()
    role = args[0].lower() if args else ""
    if not ((role == "admin" and len(args) == 2) or (role == "tutor" and len(args) == 3)):
        await message.answer(texts.GRANT_USAGE)
        return
    person = await tutors.find_person(conn, args[1])
    if person is None:
        await message.answer(texts.UNKNOWN_PERSON.format(handle=texts.esc(args[1][:64])))
        return
    who = texts.esc(person.label)
    if role == "admin":
        fresh = await tutors.grant_admin(conn, person.id)
        await message.answer((texts.GRANTED_ADMIN if fresh else texts.ALREADY_ADMIN)
                             .format(who=who))
    else:
        course = await courses.get_by_slug(conn, args[2])
        if course is None:
            await message.answer(texts.UNKNOWN_COURSE.format(slug=texts.esc(args[2][:64])))
            return
        fresh = await tutors.grant_tutor(conn, person.id, course.id)
        await message.answer((texts.GRANTED_TUTOR if fresh else texts.ALREADY_TUTOR)
                             .format(who=who, course=texts.esc(course.title)))
    await _refresh_menu(bot, conn, person.id)


@router.message(Command("revoke"), IsAdmin())
async def revoke(
    message: Message, command: CommandObject, bot: Bot, conn: asyncpg.Connection, user: User,
    settings: Settings,
) -> None:
    args = (command.args or "").split()
    role = args[0].lower() if args else ""
    if not ((role == "admin" and len(args) == 2) or (role == "tutor" and len(args) in (2, 3))):
        await message.answer(texts.REVOKE_USAGE)
        return
    person = await tutors.find_person(conn, args[1])
    if person is None:
        await message.answer(texts.UNKNOWN_PERSON.format(handle=texts.esc(args[1][:64])))
        return
    who = texts.esc(person.label)
    if role == "admin":
        if person.telegram_id is not None and settings.is_admin_id(person.telegram_id):
            await message.answer(texts.CONFIG_ADMIN.format(who=who))
            return
        if person.id == user.id:
            await message.answer(texts.REVOKE_SELF)
            return
        done = await tutors.revoke_admin(conn, person.id)
        await message.answer((texts.REVOKED_ADMIN if done else texts.NOT_AN_ADMIN)
                             .format(who=who))
    else:
        course = None
        if len(args) == 3:
            course = await courses.get_by_slug(conn, args[2])
            if course is None:
                await message.answer(texts.UNKNOWN_COURSE.format(slug=texts.esc(args[2][:64])))
                return
        what = f"<b>{texts.esc(course.title)}</b>" if course else "any course"
        n = await tutors.revoke_tutor(conn, person.id, course.id if course else None)
        await message.answer((texts.REVOKED_TUTOR if n else texts.NOT_A_TUTOR)
                             .format(who=who, what=what))
    await _refresh_menu(bot, conn, person.id)


async def _refresh_menu(bot: Bot, conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """Show the person the command menu of their new role (best effort)."""

    row = await conn.fetchrow("SELECT telegram_id, role::text FROM users WHERE id = $1", user_id)
    if row and row["telegram_id"]:
        await set_role_commands(bot, row["telegram_id"], row["role"])


# --- broadcasts --------------------------------------------------------------------------------

async def _broadcast_target(
    conn: asyncpg.Connection, target: str
) -> tuple[str, uuid.UUID, str] | str:
    """(kind, id, label) for `slug`, `cohort-name`, `course:slug` or `cohort:name`; or the
    problem as text."""
    kind, sep, name = target.partition(":")
    if not sep:
        kind, name = "", target
    course = await courses.get_by_slug(conn, name) if kind in ("", "course") else None
    cohort = await cohorts.get_by_name(conn, name) if kind in ("", "cohort") else None
    if course and cohort:
        return texts.BROADCAST_AMBIGUOUS.format(target=texts.esc(name))
    if course:
        return "course", course.id, course.title
    if cohort:
        if not cohort.is_active:
            return texts.COHORT_INACTIVE.format(name=texts.esc(cohort.name))
        return "cohort", cohort.id, f"cohort {cohort.name}"
    return texts.BROADCAST_UNKNOWN_TARGET.format(target=texts.esc(target[:64]))


@router.message(Command("broadcast"), IsAdmin())
async def broadcast(
    message: Message, command: CommandObject, conn: asyncpg.Connection, user: User
) -> None:
    args = (command.args or "").split(maxsplit=1)
    body = html_after_words(message.html_text, 2)
    if len(args) < 2 or not body:
        await message.answer(texts.BROADCAST_USAGE)
        return
    if len(args[1]) > texts.TELEGRAM_LIMIT:
        await message.answer(texts.TOO_LONG.format(length=len(args[1]),
                                                   limit=texts.TELEGRAM_LIMIT))
        return
    target = await _broadcast_target(conn, args[0])
    if isinstance(target, str):
        await message.answer(target)
        return
    kind, target_id, label = target
    audience = await broadcasts.audience_size(conn, kind, target_id)
    if audience == 0:
        await message.answer(texts.BROADCAST_NOBODY.format(label=texts.esc(label)))
        return
    draft = await broadcasts.create_draft(conn, created_by=user.id, target_kind=kind,
                                          target_id=target_id, target_label=label, body=body)
    shown = body if len(args[1]) <= 3000 else texts.esc(texts.snippet(args[1], 3000))
    await message.answer(
        texts.BROADCAST_PREVIEW.format(label=texts.esc(label), n=audience,
                                       s=texts.plural(audience), body=shown),
        reply_markup=keyboards.broadcast_confirm(draft.id, audience),
    )


def _broadcast_id(data: BroadcastCb) -> uuid.UUID | None:
    try:
        return uuid.UUID(hex=data.id)
    except ValueError:
        return None


@router.callback_query(BroadcastCb.filter(F.action == "send"), IsAdmin())
async def broadcast_send(
    query: CallbackQuery, callback_data: BroadcastCb, bot: Bot, conn: asyncpg.Connection,
    settings: Settings, sender: RateLimitedSender, broadcaster: Broadcaster,
) -> None:
    broadcast_id = _broadcast_id(callback_data)
    message = query.message
    if broadcast_id is None or not isinstance(message, Message):
        await query.answer(texts.BROADCAST_GONE, show_alert=True)
        return
    total = await broadcasts.start(
        conn, broadcast_id, owner=broadcaster.name, lease_seconds=settings.broadcast_lease_seconds,
        progress_chat_id=message.chat.id, progress_message_id=message.message_id,
    )
    if total is None:
        await _not_a_draft(query, conn, broadcast_id)
        return
    await query.answer(texts.BROADCAST_STARTING)
    b = await broadcasts.get(conn, broadcast_id)
    assert b is not None
    text = texts.broadcast_progress(b.target_label, 0, 0, 0, total, total,
                                    total / settings.delivery_rate_per_second)
    try:
        await sender.send(message.chat.id, lambda: message.edit_text(
            text, reply_markup=keyboards.broadcast_stop(broadcast_id)))
    except SendFailed as exc:
        log.warning("could not show broadcast progress: %s", exc)
    broadcaster.launch(bot, sender, broadcast_id)


@router.callback_query(BroadcastCb.filter(F.action.in_({"cancel", "stop"})), IsAdmin())
async def broadcast_cancel(
    query: CallbackQuery, callback_data: BroadcastCb, conn: asyncpg.Connection
) -> None:
    broadcast_id = _broadcast_id(callback_data)
    if broadcast_id is None:
        await query.answer(texts.BROADCAST_GONE, show_alert=True)
        return
    was = await broadcasts.cancel(conn, broadcast_id)
    if was is None:
        await _not_a_draft(query, conn, broadcast_id)
    elif was == "draft":
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.edit_text(texts.BROADCAST_CANCELLED)
    else:  # the sending process sees the status and reports in the progress message
        await query.answer(texts.BROADCAST_STOPPING)


async def _not_a_draft(
    query: CallbackQuery, conn: asyncpg.Connection, broadcast_id: uuid.UUID
) -> None:
    b = await broadcasts.get(conn, broadcast_id)
    if b is None:
        await query.answer(texts.BROADCAST_GONE, show_alert=True)
        return
    status = {"sending": "started", "done": "sent", "cancelled": "cancelled"}.get(b.status,
                                                                                 b.status)
    await query.answer(texts.BROADCAST_NOT_DRAFT.format(status=status), show_alert=True)


# --- analytics -----------------------------------------------------------------------------

@router.message(Command("stats"), IsAdmin())
async def stats(
    message: Message, command: CommandObject, conn: asyncpg.Connection,
    clock: Callable[[], datetime],
) -> None:
    slug, now = (command.args or "").strip(), clock()
    if not slug:
        lines = await course_stats.course_overview(conn, now)
        if not lines:
            await message.answer(texts.STATS_NO_COURSES)
            return
        text = texts.stats_overview(lines)
        png = await asyncio.to_thread(charts.overview_chart, lines)
    else:
        course = await courses.get_by_slug(conn, slug)
        if course is None:
            await message.answer(texts.UNKNOWN_COURSE.format(slug=texts.esc(slug[:64])))
            return
        enrolled = await course_stats.enrollments(conn, course.id, now)
        funnel = await course_stats.module_funnel(conn, course.id)
        hard = await course_stats.difficult_topics(conn, course.id)
        drop = await course_stats.dropout(conn, course.id, now)
        daily = await course_stats.daily_active(conn, course.id, now)
        finish = await course_stats.time_to_complete_days(conn, course.id)
        pass_mark = await conn.fetchval("SELECT pass_mark FROM courses WHERE id = $1", course.id)
        quizzes = await course_stats.quiz_pass_rates(conn, course.id, pass_mark)
        text = texts.stats_course(course.title, enrolled, funnel, hard, drop, finish, quizzes)
        png = await asyncio.to_thread(charts.course_chart, course.title, funnel, daily)
    await answer_long(message, text)
    await message.answer_photo(BufferedInputFile(png, filename="stats.png"))


@router.message(Command("export"), IsAdmin())
async def export(message: Message, command: CommandObject, conn: asyncpg.Connection) -> None:
    slug = (command.args or "").strip()
    if not slug:
        await message.answer(texts.EXPORT_USAGE)
        return
    course = await courses.get_by_slug(conn, slug)
    if course is None:
        await message.answer(texts.UNKNOWN_COURSE.format(slug=texts.esc(slug[:64])))
        return
    rows = await course_stats.progress_export(conn, course.id)
    data = charts.progress_csv(course_stats.EXPORT_COLUMNS, rows)
    await message.answer_document(
        BufferedInputFile(data, filename=f"{course.slug}-progress.csv"),
        caption=texts.EXPORT_CAPTION.format(title=texts.esc(course.title), count=len(rows),
                                            s=texts.plural(len(rows))),
    )


# --- pages and quota -------------------------------------------------------------------------

@router.message(Command("page"), IsAdmin())
async def page(
    message: Message, command: CommandObject, conn: asyncpg.Connection, user: User
) -> None:
    from bot.routers.start import page as current_page  # one place knows the page defaults

    slugs = ", ".join(texts.DEFAULT_PAGES)
    slug = (command.args or "").split(maxsplit=1)[0].lower() if command.args else ""
    if not slug:
        await message.answer(texts.PAGE_USAGE.format(slugs=slugs, slug="help"))
        await answer_long(message, await current_page(conn, "help"))
        return
    if slug not in texts.DEFAULT_PAGES:
        await message.answer(texts.PAGE_UNKNOWN.format(slug=texts.esc(slug[:64]), slugs=slugs))
        return
    body = html_after_words(message.html_text, 2)
    if not body:
        await message.answer(texts.PAGE_USAGE.format(slugs=slugs, slug=slug))
        await answer_long(message, await current_page(conn, slug))
        return
    if len(body) > texts.TELEGRAM_LIMIT:
        await message.answer(texts.TOO_LONG.format(length=len(body), limit=texts.TELEGRAM_LIMIT))
        return
    await pages.put(conn, slug, body, user.id)
    await message.answer(texts.PAGE_SAVED.format(slug=slug))
    await answer_long(message, body.replace("{name}", texts.esc(user.display_name)))


# With arguments only: a bare /quota is the learners' "questions left" (bot/routers/ask.py).
@router.message(Command("quota", magic=F.args), IsAdmin())
async def quota(message: Message, command: CommandObject, conn: asyncpg.Connection) -> None:
    args = (command.args or "").split()
    if len(args) != 2 or not args[1].isdigit() or int(args[1]) > 10_000:
        await message.answer(texts.QUOTA_USAGE)
        return
    course = await courses.get_by_slug(conn, args[0])
    if course is None:
        await message.answer(texts.UNKNOWN_COURSE.format(slug=texts.esc(args[0][:64])))
        return
    n = int(args[1])
    old = await courses.set_prompt_quota(conn, course.id, n)
    await message.answer(texts.QUOTA_SET.format(title=texts.esc(course.title), n=n,
                                                s=texts.plural(n), old=old))


ADMIN_ONLY = ("import", "grant", "revoke", "broadcast", "stats", "export", "page")


@router.message(Command(*ADMIN_ONLY))
@router.message(Command("quota", magic=F.args))
async def refused(message: Message) -> None:
    """IsAdmin already told the sender no; stop here so the fallback doesn't answer too."""
