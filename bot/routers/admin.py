"""Admin commands. Every handler here is behind `IsAdmin` (the database role); refusals are
said once, in `bot/routers/refusals.py`.

The console: /import, /grant and /revoke, /broadcast (confirm, live progress, stop), /stats,
/export, /page and /quota."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime

import asyncpg
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, CallbackQuery, Message

from bot.background import Background
from bot.config import Settings
from bot.filters import CourseArg, IsAdmin
from bot.i18n import current, speaking
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
from storage import broadcasts, cohorts, courses, feedback, pages, tutors
from storage import stats as course_stats
from storage.courses import CourseRow
from storage.uow import Transactor
from storage.users import User

log = logging.getLogger(__name__)

async def import_zip(
    message: Message, bot: Bot, db: Transactor, rag: RagService, background: Background,
    clock: Callable[[], datetime],
) -> None:
    """Check the upload, then import in the background: the admin gets one progress message,
    edited as the passages are embedded and finally with the result."""
    doc = message.document
    if doc is None or not (doc.file_name or "").lower().endswith(".zip"):
        await message.answer(texts.IMPORT_USAGE)
        return
    name = doc.file_name or "course.zip"
    if doc.file_size and doc.file_size > MAX_ZIP_BYTES:
        await message.answer(texts.import_failed(
            1, texts.IMPORT_TOO_BIG.format(name=texts.esc(name))))
        return
    status = await message.answer(texts.IMPORT_STARTED.format(name=texts.esc(name)))
    background.spawn(_import(bot, db.base, rag, doc.file_id, name, status, clock),
                     name=f"import {name}")


async def _import(bot: Bot, db: Transactor, rag: RagService, file_id: str, name: str,
                  status: Message, clock: Callable[[], datetime]) -> None:
    progress = ProgressMessage(bot, status, name)
    try:
        buffer = io.BytesIO()
        await bot.download(file_id, destination=buffer)
        src = load_course_zip(buffer.getvalue(), name)
        report = await import_source(db, src, embedder=rag.embedder, progress=progress.step,
                                     now=clock())
    except CourseError as exc:
        shown = exc.problems[:30]
        lines = "\n".join(f"• {texts.esc(texts.course_problem(p))}" for p in shown)
        if len(exc.problems) > len(shown):
            lines += "\n" + texts.AND_MORE.format(n=len(exc.problems) - len(shown))
        await progress.finish(texts.import_failed(len(exc.problems), lines))
        return
    except Exception as exc:
        log.exception("import of %s failed", name)
        await progress.finish(texts.import_failed(
            1, texts.esc(f"{type(exc).__name__}: {exc}"[:500])))
        return
    await progress.finish(texts.IMPORT_OK.format(summary=texts.esc(texts.import_summary(report))))


class ProgressMessage:
    """One status message, edited at most every `every` seconds while passages are embedded.
    `step` is called from the embedding thread; edits are scheduled on the bot's loop."""

    def __init__(self, bot: Bot, status: Message, name: str, every: float = 3.0) -> None:
        self.bot, self.status, self.name, self.every = bot, status, name, every
        self.locale = current()  # the admin's, from the update that started the import
        self.loop = asyncio.get_running_loop()
        self.last = 0.0
        self.pending: asyncio.Task[None] | None = None

    def step(self, done: int, total: int) -> None:
        now = time.monotonic()
        if total == 0 or now - self.last < self.every:
            return
        self.last = now
        with speaking(self.locale):  # the embedding thread has no update's locale
            text = texts.IMPORT_PROGRESS.format(name=texts.esc(self.name),
                                                step=texts.import_embedded(done, total))
        self.loop.call_soon_threadsafe(self._schedule, text)

    def _schedule(self, text: str) -> None:
        if self.pending is None or self.pending.done():
            self.pending = self.loop.create_task(self._edit(text))

    async def finish(self, text: str) -> None:
        if self.pending is not None:
            await asyncio.gather(self.pending, return_exceptions=True)
        await self._edit(text)

    async def _edit(self, text: str) -> None:
        try:
            await self.bot.edit_message_text(text, chat_id=self.status.chat.id,
                                             message_id=self.status.message_id)
        except TelegramAPIError as exc:  # the result still stands; only its display failed
            log.info("could not update the import message: %s", exc)
            if text.startswith(("✅", "❌")):
                with contextlib.suppress(TelegramAPIError):
                    await self.bot.send_message(self.status.chat.id, text)


# --- roles -----------------------------------------------------------------------------------

async def _person(conn: asyncpg.Connection, handle: str
                  ) -> tuple[tutors.Person | None, str | None]:
    """The person a handle names, or the reply that says why it names nobody."""
    try:
        person = await tutors.find_person(conn, handle)
    except tutors.UnclearHandle as exc:
        template = texts.HANDLE_AMBIGUOUS if exc.kind == "ambiguous" else texts.HANDLE_STALE
        return None, template.format(handle=texts.esc(handle[:64]))
    if person is None:
        return None, texts.UNKNOWN_PERSON.format(handle=texts.esc(handle[:64]))
    return person, None


async def grant(
    message: Message, command: CommandObject, bot: Bot, db: Transactor
) -> None:
    args = (command.args or "").split()
    role = args[0].lower() if args else ""
    if not ((role == "admin" and len(args) == 2) or (role == "tutor" and len(args) == 3)):
        await message.answer(texts.GRANT_USAGE)
        return
    async with db.tx() as conn:
        person, unclear = await _person(conn, args[1])
        course = await courses.get_by_slug(conn, args[2]) if role == "tutor" else None
        if person is None or (role == "tutor" and course is None):
            fresh = None
        elif course is None:
            fresh = await tutors.grant_admin(conn, person.id)
        else:
            fresh = await tutors.grant_tutor(conn, person.id, course.id)
        menu = await tutors.menu_of(conn, person.id) if fresh is not None else None
    if person is None:
        await message.answer(unclear or "")
        return
    who = texts.esc(person.label)
    if role == "admin":
        await message.answer((texts.GRANTED_ADMIN if fresh else texts.ALREADY_ADMIN)
                             .format(who=who))
    elif course is None:
        await message.answer(texts.UNKNOWN_COURSE.format(slug=texts.esc(args[2][:64])))
        return
    else:
        await message.answer((texts.GRANTED_TUTOR if fresh else texts.ALREADY_TUTOR)
                             .format(who=who, course=texts.esc(course.title)))
    await _refresh_menu(bot, menu)


async def revoke(
    message: Message, command: CommandObject, bot: Bot, db: Transactor, user: User,
    settings: Settings,
) -> None:
    args = (command.args or "").split()
    role = args[0].lower() if args else ""
    if not ((role == "admin" and len(args) == 2) or (role == "tutor" and len(args) in (2, 3))):
        await message.answer(texts.REVOKE_USAGE)
        return
    async with db.tx() as conn:
        person, unclear = await _person(conn, args[1])
        if person is None:
            text = unclear or ""
        elif role == "admin":
            text = await _revoke_admin(conn, person, user, settings)
        else:
            text = await _revoke_tutor(conn, person, args[2] if len(args) == 3 else None)
        menu = await tutors.menu_of(conn, person.id) if person is not None else None
    await message.answer(text)
    await _refresh_menu(bot, menu)


async def _revoke_admin(conn: asyncpg.Connection, person: tutors.Person, user: User,
                        settings: Settings) -> str:
    who = texts.esc(person.label)
    if person.telegram_id is not None and settings.is_admin_id(person.telegram_id):
        return texts.CONFIG_ADMIN.format(who=who)
    if person.id == user.id:
        return texts.REVOKE_SELF
    done = await tutors.revoke_admin(conn, person.id)
    return (texts.REVOKED_ADMIN if done else texts.NOT_AN_ADMIN).format(who=who)


async def _revoke_tutor(conn: asyncpg.Connection, person: tutors.Person, slug: str | None
                        ) -> str:
    course = None
    if slug is not None:
        course = await courses.get_by_slug(conn, slug)
        if course is None:
            return texts.UNKNOWN_COURSE.format(slug=texts.esc(slug[:64]))
    what = f"<b>{texts.esc(course.title)}</b>" if course else texts.ANY_COURSE
    n = await tutors.revoke_tutor(conn, person.id, course.id if course else None)
    return (texts.REVOKED_TUTOR if n else texts.NOT_A_TUTOR).format(
        who=texts.esc(person.label), what=what)


async def _refresh_menu(bot: Bot, menu: tuple[int, str, str] | None) -> None:
    """Show the person the command menu of their new role (best effort)."""
    if menu is not None:
        await set_role_commands(bot, *menu)


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


async def broadcast(
    message: Message, command: CommandObject, db: Transactor, user: User
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
    async with db.tx() as conn:
        target = await _broadcast_target(conn, args[0])
        if isinstance(target, str):
            problem: str | None = target
        else:
            kind, target_id, label = target
            audience = await broadcasts.audience_size(conn, kind, target_id)
            problem = (texts.BROADCAST_NOBODY.format(label=texts.esc(label))
                       if audience == 0 else None)
            if problem is None:
                draft = await broadcasts.create_draft(
                    conn, created_by=user.id, target_kind=kind, target_id=target_id,
                    target_label=label, body=body)
    if problem is not None:
        await message.answer(problem)
        return
    shown = body if len(args[1]) <= 3000 else texts.esc(texts.snippet(args[1], 3000))
    await message.answer(
        texts.broadcast_preview(texts.esc(label), audience, shown),
        reply_markup=keyboards.broadcast_confirm(draft.id, audience),
    )


async def broadcast_send(
    query: CallbackQuery, callback_data: BroadcastCb, bot: Bot, db: Transactor,
    settings: Settings, sender: RateLimitedSender, broadcaster: Broadcaster,
) -> None:
    broadcast_id = callback_data.id
    message = query.message
    if not isinstance(message, Message):
        await query.answer(texts.BROADCAST_GONE, show_alert=True)
        return
    async with db.tx() as conn:
        total = await broadcasts.start(
            conn, broadcast_id, owner=broadcaster.name,
            lease_seconds=settings.broadcast_lease_seconds,
            progress_chat_id=message.chat.id, progress_message_id=message.message_id,
        )
        b = await broadcasts.get(conn, broadcast_id)
    if total is None or b is None:
        await query.answer(_not_a_draft(b), show_alert=True)
        return
    await query.answer(texts.BROADCAST_STARTING)
    text = texts.broadcast_progress(b.target_label, 0, 0, 0, total, total,
                                    total / settings.delivery_rate_per_second)
    try:
        await sender.send(message.chat.id, lambda: message.edit_text(
            text, reply_markup=keyboards.broadcast_stop(broadcast_id)))
    except SendFailed as exc:
        log.warning("could not show broadcast progress: %s", exc)
    broadcaster.launch(bot, sender, broadcast_id)


async def broadcast_cancel(
    query: CallbackQuery, callback_data: BroadcastCb, db: Transactor
) -> None:
    async with db.tx() as conn:
        was = await broadcasts.cancel(conn, callback_data.id)
        b = await broadcasts.get(conn, callback_data.id) if was is None else None
    if was is None:
        await query.answer(_not_a_draft(b), show_alert=True)
    elif was == "draft":
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.edit_text(texts.BROADCAST_CANCELLED)
    else:  # the sending process sees the status and reports in the progress message
        await query.answer(texts.BROADCAST_STOPPING)


def _not_a_draft(b: broadcasts.Broadcast | None) -> str:
    if b is None:
        return texts.BROADCAST_GONE
    return texts.BROADCAST_ALREADY.get(b.status, texts.BROADCAST_GONE)


# --- analytics -----------------------------------------------------------------------------

async def stats_overview(message: Message, db: Transactor, clock: Callable[[], datetime]
                         ) -> None:
    async with db.read() as conn:
        lines = await course_stats.course_overview(conn, clock())
        helped = await feedback.helpfulness(conn, None)
        worst = await feedback.most_downvoted_questions(conn, None)
    if not lines:
        await message.answer(texts.STATS_NO_COURSES)
        return
    text = texts.stats_overview(lines) + "\n\n" \
        + texts.helpfulness_block(helped, worst, per_course=True)
    png = await asyncio.to_thread(charts.overview_chart, lines)
    await answer_long(message, text)
    await message.answer_photo(BufferedInputFile(png, filename="stats.png"))


async def stats_course(message: Message, db: Transactor, course: CourseRow,
                       clock: Callable[[], datetime]) -> None:
    now = clock()
    async with db.read() as conn:
        helped = await feedback.helpfulness(conn, course.id)
        worst = await feedback.most_downvoted_questions(conn, course.id)
        enrolled = await course_stats.enrollments(conn, course.id, now)
        funnel = await course_stats.module_funnel(conn, course.id)
        hard = await course_stats.difficult_topics(conn, course.id)
        drop = await course_stats.dropout(conn, course.id, now)
        daily = await course_stats.daily_active(conn, course.id, now)
        finish = await course_stats.time_to_complete_days(conn, course.id)
        pass_mark = await courses.pass_mark(conn, course.id)
        quizzes = await course_stats.quiz_pass_rates(conn, course.id, pass_mark)
    text = texts.stats_course(course.title, enrolled, funnel, hard, drop, finish, quizzes) \
        + "\n\n" + texts.helpfulness_block(helped, worst, per_course=False)
    png = await asyncio.to_thread(charts.course_chart, course.title, funnel, daily)
    await answer_long(message, text)
    await message.answer_photo(BufferedInputFile(png, filename="stats.png"))


async def export(message: Message, db: Transactor, course: CourseRow) -> None:
    async with db.read() as conn:
        rows = await course_stats.progress_export(conn, course.id)
    data = charts.progress_csv(course_stats.EXPORT_COLUMNS, rows)
    await message.answer_document(
        BufferedInputFile(data, filename=f"{course.slug}-progress.csv"),
        caption=texts.export_caption(course.title, len(rows)),
    )


USAGES = {"export": texts.EXPORT_USAGE, "quota": texts.QUOTA_USAGE}


async def no_such_course(message: Message, command: CommandObject) -> None:
    """A course command whose `CourseArg` didn't match: its usage, or which slug is unknown."""
    slug = (command.args or "").split(maxsplit=1)[0] if command.args else ""
    if not slug:
        await message.answer(USAGES.get(command.command, texts.UNKNOWN_COMMAND.format(
            command=command.command)))
        return
    await message.answer(texts.UNKNOWN_COURSE.format(slug=texts.esc(slug[:64])))


# --- pages and quota -------------------------------------------------------------------------

async def page(
    message: Message, command: CommandObject, db: Transactor, user: User
) -> None:
    from bot.routers.start import page as current_page  # one place knows the page defaults

    slugs = ", ".join(texts.DEFAULT_PAGES)
    slug = (command.args or "").split(maxsplit=1)[0].lower() if command.args else ""
    if slug and slug not in texts.DEFAULT_PAGES:
        await message.answer(texts.PAGE_UNKNOWN.format(slug=texts.esc(slug[:64]), slugs=slugs))
        return
    body = html_after_words(message.html_text, 2) if slug else ""
    if not body:
        async with db.read() as conn:
            current = await current_page(conn, slug or "help")
        await message.answer(texts.PAGE_USAGE.format(slugs=slugs, slug=slug or "help"))
        await answer_long(message, current)
        return
    if len(body) > texts.TELEGRAM_LIMIT:
        await message.answer(texts.TOO_LONG.format(length=len(body), limit=texts.TELEGRAM_LIMIT))
        return
    async with db.tx() as conn:
        await pages.put(conn, slug, body, user.id)
    await message.answer(texts.PAGE_SAVED.format(slug=slug))
    await answer_long(message, body.replace("{name}", texts.esc(user.display_name)))


# With arguments only: a bare /quota is the learners' "questions left" (bot/routers/ask.py).
async def quota(message: Message, db: Transactor, course: CourseRow, args: str) -> None:
    if not args.isdigit() or int(args) > 10_000:
        await message.answer(texts.QUOTA_USAGE)
        return
    n = int(args)
    async with db.tx() as conn:
        old = await courses.set_prompt_quota(conn, course.id, n)
    await message.answer(texts.quota_set(course.title, n, old))


ADMIN_ONLY = ("import", "grant", "revoke", "broadcast", "stats", "export", "page")


def build_router() -> Router:
    router = Router(name="admin")
    router.message.filter(F.chat.type == "private")  # see private_only.py for groups
    admin = IsAdmin()
    router.message.register(import_zip, Command("import"), admin)
    router.message.register(grant, Command("grant"), admin)
    router.message.register(revoke, Command("revoke"), admin)
    router.message.register(broadcast, Command("broadcast"), admin)
    router.message.register(stats_overview, Command("stats", magic=~F.args), admin)
    router.message.register(stats_course, Command("stats"), admin, CourseArg())
    router.message.register(export, Command("export"), admin, CourseArg())
    router.message.register(page, Command("page"), admin)
    router.message.register(quota, Command("quota", magic=F.args), admin, CourseArg())
    router.message.register(no_such_course, Command("stats", "export"), admin)
    router.message.register(no_such_course, Command("quota", magic=F.args), admin)
    router.callback_query.register(broadcast_send, BroadcastCb.filter(F.action == "send"), admin)
    router.callback_query.register(
        broadcast_cancel, BroadcastCb.filter(F.action.in_({"cancel", "stop"})), admin)
    return router
