"""Every user-facing text, in one place. HTML parse mode: dynamic values go through `esc`."""

from __future__ import annotations

import html
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.markdown import pack, to_blocks
from storage.journeys import CourseProgress, JourneyView

TELEGRAM_LIMIT = 4096
esc = html.escape

DEFAULT_PAGES = {
    "welcome": (
        "Hi {name}! I'm your learning companion. Every day I'll bring you one short journey "
        "(a lesson), answer questions about your course, and keep track of your progress."
    ),
    "help": (
        "<b>What I can do</b>\n"
        "/today — today's journey (the same one again if you've had it today)\n"
        "/courses — browse and enroll in courses\n"
        "/progress — how far you are, module by module\n"
        "/timezone — set your time zone (e.g. <code>/timezone Europe/Berlin</code>)\n"
        "/time — choose the hour your daily journey arrives\n"
        "/pause and /resume — stop and restart daily journeys\n"
        "/help — this message"
    ),
    "about": "learnbot: one short journey a day, answers from your course, and your cohort.",
}

UNKNOWN_COMMAND = "I don't know the command {command}. Send /help to see what I can do."
NOT_ENROLLED = "You're not enrolled in any course yet. Send /courses to pick one."
NO_COURSES = "No courses are available yet. Please check back soon."
COURSES_HEADER = "<b>Courses</b> — tap one to enroll:"
UNKNOWN_COURSE = "I couldn't find a course called “{slug}”. Send /courses to see what's available."
ENROLLED = "You're enrolled in <b>{title}</b>! Here's your first journey."
ALREADY_ENROLLED = "You're already enrolled in <b>{title}</b>. Here's today's journey."
COURSE_FINISHED = (
    "🎉 You've finished every journey in <b>{title}</b>. Congratulations! "
    "No more daily journeys will arrive for this course."
)
ALREADY_FINISHED = "You've completed <b>{title}</b> — there's no new journey. Well done!"
SAME_AGAIN = "<i>You've already had today's journey — here it is again.</i>"
DONE_ALREADY = "Already marked as done ✔"
NOT_YOURS = "That button isn't for you."
GONE = "That journey is no longer available."
PAUSED = "Daily journeys are paused. Send /resume whenever you want them back."
RESUMED = "Welcome back! Daily journeys will arrive again at {hour:02d}:00 ({tz})."
TIMEZONE_USAGE = (
    "Send your time zone as an IANA name, for example:\n"
    "<code>/timezone Europe/London</code>\n<code>/timezone America/New_York</code>\n"
    "<code>/timezone Asia/Kolkata</code>\n<code>/timezone Pacific/Honolulu</code>\n"
    "Your current zone is <b>{tz}</b>."
)
TIMEZONE_BAD = (
    "“{value}” isn't a time zone I know. Use a name like <code>Europe/Paris</code> or "
    "<code>America/Sao_Paulo</code> (see "
    "https://en.wikipedia.org/wiki/List_of_tz_database_time_zones)."
)
TIMEZONE_SET = "Time zone set to <b>{tz}</b>. It's {local} there now."
TIME_USAGE = "Choose the hour your daily journey should arrive (now {hour:02d}:00, {tz}):"
TIME_BAD = "Please give an hour from 0 to 23, e.g. <code>/time 7</code>."
TIME_SET = "Daily journeys will arrive at <b>{hour:02d}:00</b> ({tz})."
TOO_LONG = "That message is too long for me ({length} characters; the limit is {limit})."
SLOW_DOWN = "You're sending messages very fast — please wait a moment."
NOT_ADMIN = "Sorry, only admins can do that."
QUESTION_SOON = (
    "Thanks for your question! Answering from the course material isn't switched on here yet. "
    "Meanwhile: /today for your journey, /progress for your progress."
)
IMPORT_USAGE = "Send the course as a .zip file with the caption /import."
IMPORT_OK = "✅ Imported: {summary}"
IMPORT_FAILED = "❌ The course was not imported ({count} problem{s}):\n{problems}"


def fmt_when(moment: datetime | None, tz: str) -> str:
    if moment is None:
        return "—"
    local = moment.astimezone(ZoneInfo(tz))
    return local.strftime("%a %d %b, %H:%M")


def journey_messages(jv: JourneyView, *, again: bool = False) -> list[str]:
    """The journey as Telegram messages: header + body blocks, each message ≤ 4096 chars."""
    title = (SAME_AGAIN + "\n\n" if again else "") + (
        f"📘 <b>{esc(jv.topic_title)}</b>\n"
        f"<i>{esc(jv.course_title)} · Module {jv.module_no}: {esc(jv.module_title)} · "
        f"journey {jv.position} of {jv.total}</i>"
    )
    return pack([title, *to_blocks(jv.body)])


def journey_card(jv: JourneyView) -> str:
    return (
        f"☀️ Today's journey in <b>{esc(jv.course_title)}</b>:\n"
        f"<b>{esc(jv.topic_title)}</b> (module {jv.module_no}, journey {jv.position} of "
        f"{jv.total}).\nTap Start when you're ready."
    )


def done_text(title: str, seconds: int, next_title: str | None, due: datetime | None,
              tz: str) -> str:
    spent = f" in {seconds // 60} min {seconds % 60} s" if seconds else ""
    text = f"✅ Done: <b>{esc(title)}</b>{spent}. Nice work!"
    if next_title:
        text += f"\nNext up: <b>{esc(next_title)}</b> — arriving {fmt_when(due, tz)}."
    return text


def progress_text(items: list[CourseProgress], tz: str) -> str:
    if not items:
        return NOT_ENROLLED
    parts = []
    for p in items:
        bar = "▓" * (p.percent // 10) + "░" * (10 - p.percent // 10)
        lines = [f"<b>{esc(p.title)}</b>  {bar} {p.percent}% ({p.done}/{p.total} journeys)"]
        for m in p.modules:
            if m.done == m.total:
                mark = "✅ complete"
            elif m.started:
                mark = f"▶️ {m.done}/{m.total}"
            else:
                mark = "⏳ not started"
            lines.append(f"  Module {m.module_no}: {esc(m.title)} — {mark}")
        if p.completed_at:
            lines.append(f"  Finished {fmt_when(p.completed_at, tz)}")
        elif p.next_due_at:
            lines.append(f"  Next journey: {fmt_when(p.next_due_at, tz)}")
        minutes = p.time_spent_seconds // 60
        if minutes:
            lines.append(f"  Time spent: {minutes} min")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def split_message(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Split at paragraph, then line, then hard boundaries so each part fits Telegram.

    Splits never fall inside an HTML entity like `&amp;`; tags are only the ones this module
    emits at the start of a text, so they are never cut."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n\n", 0, limit)
        if cut < limit // 2:
            cut = rest.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = rest.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
            amp = rest.rfind("&", cut - 8, cut)
            if amp != -1 and ";" not in rest[amp:cut]:
                cut = amp
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n ")
    if rest:
        parts.append(rest)
    return parts
