"""Every user-facing text, in one place. HTML parse mode: dynamic values go through `esc`.

The texts are gettext msgids (English) marked with `N_`; reading one (`texts.NOT_ENROLLED`)
translates it into the current update's locale (bot/i18n.py), so call sites stay
`texts.X.format(...)`. Counted texts are functions using `ngettext`. Translations live in
locales/<lang>/LC_MESSAGES/learnbot.po (see README, "Languages")."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from bot.i18n import N_, fmt_datetime, fmt_number, ngettext
from bot.i18n import gettext as _
from bot.ui.markdown import pack, to_blocks
from content.course_format import Problem
from storage.courses import CourseRow, ImportReport
from storage.journeys import JourneyView
from storage.progress import CourseProgress

TELEGRAM_LIMIT = 4096
esc = html.escape

DEFAULT_PAGES = {
    "welcome": (
        N_("Hi {name}! I'm your learning companion. Every day I'll bring you one short journey "
        "(a lesson), answer questions about your course, and keep track of your progress.")
    ),
    "help": (
        N_("<b>What I can do</b>\n"
        "/today — today's journey (the same one again if you've had it today)\n"
        "/courses — browse and enroll in courses\n"
        "/progress — how far you are, module by module\n"
        "/quiz — take your current module's quiz (it unlocks the next module)\n"
        "/badges — your badges, XP and streak\n"
        "Type any question — I answer from your course, with sources\n"
        "/quota — typed questions left in this module (suggested ones are free)\n"
        "/new — start a fresh conversation about this topic\n"
        "/persona — your style (sports, cooking, …) and how I explain things\n"
        "/timezone — set your time zone (e.g. <code>/timezone Europe/Berlin</code>)\n"
        "/time — choose the hour your daily journey arrives\n"
        "/pause and /resume — stop and restart daily journeys (all, or "
        "<code>/pause &lt;course&gt;</code> for one)\n"
        "/leave — leave a course (your progress is kept if you come back)\n"
        "/course — pick which course your typed questions are about\n"
        "/my_data — a file with everything I keep about you; /delete_me — erase it all\n"
        "/language — choose your language (English or Filipino)\n"
        "In your cohort's group: reply to a cold call to answer it, /star (as a reply) to star "
        "an answer, /top for the best answers\n"
        "/help — this message")
    ),
    "about": N_("learnbot: one short journey a day, answers from your course, and your cohort."),
}

LANGUAGE_PICK = N_("I'm speaking <b>{language}</b> with you. Tap a language to switch:")
LANGUAGE_SET = N_("Done — I'll speak <b>{language}</b> with you from now on.")
LANGUAGE_UNKNOWN = N_("That language isn't available yet. Send /language to see the choices.")
UNKNOWN_COMMAND = N_("I don't know the command {command}. Send /help to see what I can do.")
COURSE_GONE = N_("That course isn't available any more. Send /courses to see what is.")
NOT_ENROLLED = N_("You're not enrolled in any course yet. Send /courses to pick one.")
NO_COURSES = N_("No courses are available yet. Please check back soon.")
COURSES_HEADER = N_("<b>Courses</b> — tap one to enroll:")
UNKNOWN_COURSE = N_(
    "I couldn't find a course called “{slug}”. Send /courses to see what's available."
)
ENROLLED = N_("You're enrolled in <b>{title}</b>! Here's your first journey.")
ALREADY_ENROLLED = N_("You're already enrolled in <b>{title}</b>. Here's today's journey.")
COURSE_FINISHED = (
    N_("🎉 You've finished every journey in <b>{title}</b>. Congratulations! "
    "No more daily journeys will arrive for this course.")
)
ALREADY_FINISHED = N_("You've completed <b>{title}</b> — there's no new journey. Well done!")
SAME_AGAIN = N_("<i>You've already had today's journey — here it is again.</i>")
DONE_ALREADY = N_("Already marked as done ✔")
NOT_YOURS = N_("That button isn't for you.")
GONE = N_("That journey is no longer available.")
PAUSED = N_("Daily journeys are paused. Send /resume whenever you want them back.")
PAUSED_COURSE = (
    N_("Daily journeys for <b>{title}</b> are paused. Send <code>/resume {slug}</code> whenever "
    "you want them back.")
)
RESUMED = N_("Welcome back! Daily journeys will arrive again at {hour:02d}:00 ({tz}).")
RESUMED_COURSE = N_("Daily journeys for <b>{title}</b> will arrive again at {hour:02d}:00 ({tz}).")
NOT_IN_COURSE = (
    N_("You're not in a course called “{slug}”. Your courses: {courses}.")
)
NOT_IN_ANY_COURSE = N_("You're not in a course called “{slug}”, nor in any other yet. Send "
                       "/courses to pick one.")
LEAVE_PICK = N_("Which course do you want to leave? Your progress is kept if you come back.")
LEAVE_CONFIRM = (
    N_("Leave <b>{title}</b>? No more daily journeys will arrive for it. Your progress is kept: "
    "enroll again (/courses) to pick up where you left off.")
)
LEFT = N_("You've left <b>{title}</b>. Enroll again from /courses whenever you like.")
LEAVE_KEPT = N_("Good — you're staying in <b>{title}</b>.")
REJOINED = N_("Welcome back to <b>{title}</b>! You pick up where you left off.")
COURSE_PICK = (
    N_("Your typed questions are about <b>{title}</b> now. Tap another course to switch:")
)
COURSE_PICKED = N_("From now on your typed questions are about <b>{title}</b>.")
TIMEZONE_USAGE = (
    N_("Send your time zone as an IANA name, for example:\n"
    "<code>/timezone Europe/London</code>\n<code>/timezone America/New_York</code>\n"
    "<code>/timezone Asia/Kolkata</code>\n<code>/timezone Pacific/Honolulu</code>\n"
    "Your current zone is <b>{tz}</b>.")
)
TIMEZONE_BAD = (
    N_("“{value}” isn't a time zone I know. Use a name like <code>Europe/Paris</code> or "
    "<code>America/Sao_Paulo</code> (see "
    "https://en.wikipedia.org/wiki/List_of_tz_database_time_zones).")
)
TIMEZONE_SET = N_("Time zone set to <b>{tz}</b>. It's {local} there now.")
TIME_USAGE = N_("Choose the hour your daily journey should arrive (now {hour:02d}:00, {tz}):")
TIME_BAD = N_("Please give an hour from 0 to 23, e.g. <code>/time 7</code>.")
TIME_SET = N_("Daily journeys will arrive at <b>{hour:02d}:00</b> ({tz}).")
TOO_LONG = N_("That message is too long for me ({length} characters; the limit is {limit}).")
SLOW_DOWN = N_("You're sending messages very fast — please wait a moment.")
NOT_ADMIN = N_("Sorry, only admins can do that.")
USE_PRIVATE_CHAT = N_("That command works only in a private chat with me: https://t.me/{username}")
BUSY = N_("I'm very busy right now — please try again in a moment.")
DB_TROUBLE = N_("I'm having trouble right now — please try again in a minute.")
BUTTON_STALE = N_("That button no longer works. Send /today or /help to continue.")
IMPORT_STARTED = N_("⏳ Importing <b>{name}</b>… I'll update this message as it goes.")
IMPORT_PROGRESS = N_("⏳ Importing <b>{name}</b>: {step}")
IMPORT_USAGE = N_("Send the course as a .zip file with the caption /import.")
IMPORT_OK = N_("✅ Imported: {summary}")
IMPORT_TOO_BIG = N_("{name} is larger than 20 MB")
AND_MORE = N_("… and {n} more")


def import_failed(count: int, problems: str) -> str:
    return ngettext("❌ The course was not imported ({count} problem):\n{problems}",
                    "❌ The course was not imported ({count} problems):\n{problems}",
                    count).format(count=fmt_number(count), problems=problems)


def import_embedded(done: int, total: int) -> str:
    return ngettext("embedded {done} of {total} passage", "embedded {done} of {total} passages",
                    total).format(done=fmt_number(done), total=fmt_number(total))


def import_summary(r: ImportReport) -> str:
    """What an import did, for the admin who sent it (`ImportReport.summary` is the CLI's)."""
    counts = [
        (ngettext("{n} topic added", "{n} topics added", len(r.topics_added)),
         len(r.topics_added)),
        (ngettext("{n} kept", "{n} kept", r.topics_updated), r.topics_updated),
        (ngettext("{n} archived", "{n} archived", len(r.topics_archived)),
         len(r.topics_archived)),
        (ngettext("{n} quiz question", "{n} quiz questions", r.quiz_questions),
         r.quiz_questions),
        (ngettext("{n} cold-call prompt", "{n} cold-call prompts", r.cold_calls), r.cold_calls),
        (ngettext("{n} suggestion", "{n} suggestions", r.suggestions), r.suggestions),
        (ngettext("{n} persona variant", "{n} persona variants", r.variants), r.variants),
    ]
    parts = [(_("course '{slug}' created") if r.created else _("course '{slug}' updated")
              ).format(slug=r.slug)]
    parts += [text.format(n=fmt_number(count)) for text, count in counts]
    for lang, count in sorted(r.translations.items()):
        parts.append(ngettext("{n} topic in '{language}'", "{n} topics in '{language}'", count
                              ).format(n=fmt_number(count), language=lang))
    if r.chunks is not None:
        parts.append(ngettext(
            "{n} passage ({embedded} embedded, {removed} removed)",
            "{n} passages ({embedded} embedded, {removed} removed)", r.chunks).format(
            n=fmt_number(r.chunks), embedded=fmt_number(r.chunks_embedded),
            removed=fmt_number(r.chunks_removed)))
    return ", ".join(parts)


def course_problem(problem: Problem) -> str:
    """An import problem ("file:line: message") in the current locale (content/ only marks
    its messages; they are catalogue msgids like the rest)."""
    return problem.render(_)


# /courses shows this much of a description: a course team's long one would otherwise push
# the listing past one message (and the buttons with it).
DESCRIPTION_SHOWN = 300


def course_listing(rows: list[CourseRow]) -> str:
    """/courses: the header, then each course's title and description (in the learner's
    language where the course has them: `storage.courses.list_courses`), descriptions cut
    short, and left out once the message would outgrow Telegram's limit."""
    out = [_msg("COURSES_HEADER")]
    size = len(out[0])
    for c in rows:
        title = f"<b>{esc(c.title)}</b>"
        entry = title
        if c.description:
            entry += "\n" + esc(_shortened(c.description, DESCRIPTION_SHOWN))
        if size + len(entry) + 2 > TELEGRAM_LIMIT:
            entry = title
            if size + len(entry) + 2 > TELEGRAM_LIMIT:
                break  # the buttons still list every course
        out.append(entry)
        size += len(entry) + 2
    return "\n\n".join(out)


def _shortened(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(" ,.;:") + "…"


def fmt_when(moment: datetime | None, tz: str) -> str:
    # TRANSLATORS: a CLDR date pattern (weekday, day, month, 24-hour time); keep the letters.
    return fmt_datetime(moment, tz, _("EEE dd MMM, HH:mm")) if moment else "—"


def fmt_date(moment: datetime | None, tz: str) -> str:
    # TRANSLATORS: a CLDR date pattern (day, month); keep the letters.
    return fmt_datetime(moment, tz, _("dd MMM")) if moment else "—"


def journey_messages(jv: JourneyView, *, again: bool = False) -> list[str]:
    """The journey as Telegram messages: header + body blocks, each message ≤ 4096 chars."""
    title = (_msg("SAME_AGAIN") + "\n\n" if again else "") + _(
        "📘 <b>{topic}</b>\n<i>{course} · Module {module}: {module_title} · "
        "journey {position} of {total}</i>"
    ).format(topic=esc(jv.topic_title), course=esc(jv.course_title), module=jv.module_no,
             module_title=esc(jv.module_title), position=jv.position, total=jv.total)
    return pack([title, *to_blocks(jv.body)])


def journey_card(jv: JourneyView) -> str:
    if jv.kind == "farewell":
        return farewell(jv)
    head = (_("⏳ Still waiting for you in <b>{course}</b>:") if jv.waiting
            else _("☀️ Today's journey in <b>{course}</b>:")).format(course=esc(jv.course_title))
    return head + "\n" + _(
        "<b>{topic}</b> (module {module}, journey {position} of {total}).\n"
        "Tap Start when you're ready."
    ).format(topic=esc(jv.topic_title), module=jv.module_no, position=jv.position, total=jv.total)


def farewell(jv: JourneyView) -> str:
    return _(
        "👋 I haven't heard from you in a while, so I'll stop sending daily journeys for "
        "<b>{course}</b>. Your progress is kept. Whenever you want to go on, tap Continue or "
        "send /today — you'll pick up at <b>{topic}</b>."
    ).format(course=esc(jv.course_title), topic=esc(jv.topic_title))


OPEN_HEADER = N_("📂 Still open in <b>{title}</b> — tap one to finish it:")
MODULE_MISSING = (
    N_("🔒 Module {next} unlocks when Module {module} is complete. Still to do in Module "
    "{module}:\n{items}\nTap one to finish it.")
)
COURSE_MISSING = (
    N_("🏁 That was the last journey of <b>{title}</b>. To finish the course, still to do:\n"
    "{items}\nTap one to finish it.")
)
QUIZ_TO_UNLOCK = (
    N_("🔒 Module {next} unlocks when you pass the Module {module} quiz — every journey of "
    "Module {module} is done. Tap to take it:")
)
QUIZ_WAITING = N_("📝 The Module {module} quiz is waiting for you — tap to take it:")
RETAKE_READY = N_("📝 You can retake the Module {module} quiz in <b>{title}</b> now. Tap to start:")
TODAY_DONE = (
    N_("✅ You've had today's new journey in <b>{title}</b> and everything's done. The next one "
    "arrives {when}. Meanwhile, ask me anything about it.")
)
NOT_YET = N_("One new journey a day: this one opens on your next day. Send /today to see today's.")


def journey_items(items: list) -> str:
    return "\n".join(_("• {topic} (journey {position})").format(
        topic=esc(o.topic_title), position=o.position) for o in items)


def done_text(title: str, seconds: int, next_title: str | None, due: datetime | None,
              tz: str) -> str:
    if seconds:
        text = _("✅ Done: <b>{title}</b> in {minutes} min {seconds} s. Nice work!").format(
            title=esc(title), minutes=seconds // 60, seconds=seconds % 60)
    else:
        text = _("✅ Done: <b>{title}</b>. Nice work!").format(title=esc(title))
    if next_title and due:
        text += "\n" + _("Next up: <b>{title}</b> — arriving {when}.").format(
            title=esc(next_title), when=fmt_when(due, tz))
    return text


def progress_text(items: list[CourseProgress], tz: str) -> str:
    if not items:
        return _msg("NOT_ENROLLED")
    parts = []
    for p in items:
        bar = "▓" * (p.percent // 10) + "░" * (10 - p.percent // 10)
        lines = [ngettext("<b>{title}</b>  {bar} {percent}% ({done}/{total} journey)",
                          "<b>{title}</b>  {bar} {percent}% ({done}/{total} journeys)",
                          p.total).format(title=esc(p.title), bar=bar, percent=p.percent,
                                          done=p.done, total=p.total)]
        for m in p.modules:
            if m.completed_at:
                mark = _("✅ complete ({date})").format(date=fmt_date(m.completed_at, tz))
            elif not m.unlocked:
                mark = _("🔒 locked")
            elif m.done == m.total and m.has_quiz and not m.quiz_passed:
                mark = _("📝 {done}/{total} — quiz to pass (/quiz)").format(done=m.done,
                                                                          total=m.total)
            elif m.started and m.unlocked_at:
                mark = _("▶️ {done}/{total}, unlocked {date}").format(
                    done=m.done, total=m.total, date=fmt_date(m.unlocked_at, tz))
            elif m.started:
                mark = f"▶️ {m.done}/{m.total}"
            else:
                mark = _("🔓 unlocked, not started")
            lines.append(_("  Module {module}: {title} — {mark}").format(
                module=m.module_no, title=esc(m.title), mark=mark))
        if p.completed_at:
            lines.append(_("  Finished {when}").format(when=fmt_when(p.completed_at, tz)))
        elif p.next_due_at:
            lines.append(_("  Next journey: {when}").format(when=fmt_when(p.next_due_at, tz)))
        minutes = p.time_spent_seconds // 60
        if minutes:
            lines.append(ngettext("  Time spent: {n} min", "  Time spent: {n} min",
                                  minutes).format(n=fmt_number(minutes)))
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


# --- quizzes, XP, streaks and badges -----------------------------------------------------------

QUIZ_NONE = N_("There's no quiz waiting for you right now. Keep going with /today!")
QUIZ_PASSED_ALREADY = N_("You've already passed the Module {module} quiz. 🎉")
QUIZ_COOLDOWN = (
    N_("You can retake the Module {module} quiz in {left} (at {when} your time). "
    "I'll send you a message with its button then.")
)
QUIZ_GONE = N_("That quiz question is no longer open. Send /quiz to continue.")
QUIZ_READY = N_(
    "That was the last journey of Module {module}. Take the quiz to unlock what's next:"
)
BADGES_NONE = N_("No badges yet — complete journeys and quizzes to earn them!")
# The shipped badges (migrations/0004_gamification.sql): their stored English name and
# description are msgids, so they read in the learner's language; badges an admin adds later
# show as stored.
_BADGE_TEXTS = (
    N_("Sharp Shooter"), N_("Passed a module quiz on the first try"),
    N_("On a Roll"), N_("Completed journeys 3 days in a row"),
    N_("Week Warrior"), N_("Completed journeys 7 days in a row"),
    N_("Unstoppable"), N_("Completed journeys 30 days in a row"),
    N_("Module Master"), N_("Completed every journey of a module and its quiz"),
    N_("Graduate"), N_("Completed a whole course"),
    N_("Quick Thinker"), N_("Passed a module quiz in under two minutes"),
)


def quiz_start(module: int, title: str, total: int, mark: int) -> str:
    return ngettext("📝 <b>Module {module} quiz</b> — {title}\n"
                    "{total} question, pass mark {mark}%.",
                    "📝 <b>Module {module} quiz</b> — {title}\n"
                    "{total} questions, pass mark {mark}%.", total).format(
        module=module, title=esc(title), total=total, mark=mark)


def fmt_at(moment: datetime, tz: str) -> str:
    # TRANSLATORS: a CLDR pattern for "time on day month"; quoted text is literal.
    return fmt_datetime(moment, tz, _("HH:mm 'on' dd MMM"))


def quiz_question(module: int, index: int, total: int, prompt: str) -> str:
    return _("<b>Question {n}/{total}</b> · Module {module}").format(
        n=index + 1, total=total, module=module) + f"\n\n{esc(prompt)}"


def quiz_feedback(correct: bool, correct_text: str, explanation: str) -> str:
    head = (_("✅ Correct!") if correct else
            _("❌ Not quite — the answer is <b>{answer}</b>.").format(answer=esc(correct_text)))
    return head + (f"\n<i>{esc(explanation)}</i>" if explanation else "")


def quiz_result(score: int, passed: bool, mark: int, module: int, retry_at: str | None,
                xp: int) -> str:
    if passed:
        text = _("🎉 You scored <b>{score}%</b> and passed the Module {module} quiz!").format(
            score=score, module=module)
        if xp:
            text += " " + ngettext("+{xp} XP.", "+{xp} XP.", xp).format(xp=fmt_number(xp))
        return text
    return _("You scored <b>{score}%</b> (pass mark {mark}%). You can retry at {when}. "
             "I'll send you a message with the quiz button then — you've got this!").format(
        score=score, mark=mark, when=retry_at)


def duration(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    if minutes < 60:
        return _("{minutes} min").format(minutes=minutes)
    hours, minutes = divmod(minutes, 60)
    if minutes:
        return _("{hours} h {minutes} min").format(hours=hours, minutes=minutes)
    return _("{hours} h").format(hours=hours)


def rewards(xp: int, streak: int) -> str:
    parts = []
    if xp:
        parts.append(ngettext("+{xp} XP", "+{xp} XP", xp).format(xp=fmt_number(xp)))
    if streak > 1:
        parts.append(ngettext("🔥 {n}-day streak", "🔥 {n}-day streak", streak).format(
            n=fmt_number(streak)))
    return " · ".join(parts)


def badge_won(emoji: str, name: str, description: str) -> str:
    return _("{emoji} New badge: <b>{name}</b> — {description}").format(
        emoji=emoji, name=esc(_(name)), description=esc(_(description)))


def badges_text(items: list, xp: int, level: int, streak: int, longest: int, tz: str) -> str:
    lines = [_("<b>Level {level}</b> · {xp} XP · 🔥 streak {streak} (best {longest})").format(
        level=level, xp=fmt_number(xp), streak=fmt_number(streak), longest=fmt_number(longest))]
    if not items:
        lines.append(_msg("BADGES_NONE"))
    for badge, awarded in items:
        lines.append(f"{badge.emoji} <b>{esc(_(badge.name))}</b> — {esc(_(badge.description))} "
                     f"({fmt_date(awarded, tz)})")
    return "\n".join(lines)


# --- cohorts, cold calls, tutors and the admin console -------------------------------------------

NOT_COHORT_STAFF = N_("Only the tutors of <b>{course}</b> (or an admin) can do that.")
COHORT_INACTIVE = (
    N_("The cohort <b>{name}</b> is inactive, so that's not possible now. "
    "An admin can reopen it with <code>/cohort_open {name}</code>.")
)
UNKNOWN_COHORT = N_(
    "I couldn't find a cohort called “{name}”. /cohorts lists the ones you can use."
)
GROUP_NOT_LINKED = (
    N_("This group isn't linked to a cohort. An admin can link it by sending "
    "<code>/link &lt;cohort&gt;</code> here.")
)
NAME_THE_COHORT = N_("Name the cohort: <code>/{command} &lt;cohort&gt; {rest}</code>")
NOT_IN_COHORT = N_("Only members and tutors of cohort <b>{name}</b> can do that.")
STAFF_ONLY = N_("Sorry, only tutors and admins can do that.")

GRANT_USAGE = (
    N_("Usage:\n<code>/grant admin @user</code>\n<code>/grant tutor @user &lt;course&gt;</code>\n"
    "Instead of @user you can give their numeric Telegram id.")
)
REVOKE_USAGE = (
    N_("Usage:\n<code>/revoke admin @user</code>\n<code>/revoke tutor @user [course]</code> "
    "(without a course: every course they tutor)")
)
HANDLE_AMBIGUOUS = (
    N_("More than one person has used {handle} with me (Telegram usernames change hands), so it "
    "doesn't say who you mean. Use their numeric Telegram id instead."))
HANDLE_STALE = (
    N_("I haven't heard from {handle} for over 30 days, and the username may belong to someone "
    "else by now. Ask them to message me once, or use their numeric Telegram id."))
UNKNOWN_PERSON = (
    N_("I don't know {handle} yet. Ask them to send /start to me first, or use their numeric "
    "Telegram id.")
)
GRANTED_ADMIN = N_("✅ {who} is now an admin.")
ALREADY_ADMIN = N_("{who} is already an admin.")
GRANTED_TUTOR = N_("✅ {who} now tutors <b>{course}</b>.")
ALREADY_TUTOR = N_("{who} already tutors <b>{course}</b>.")
REVOKED_ADMIN = N_("✅ {who} is no longer an admin.")
NOT_AN_ADMIN = N_("{who} isn't an admin.")
CONFIG_ADMIN = (
    N_("{who} is an admin through the ADMIN_TELEGRAM_IDS setting; remove them there instead.")
)
ANY_COURSE = N_("any course")
THE_GROUP = N_("the group")
REVOKE_SELF = N_("You can't revoke your own admin rights; ask another admin.")
REVOKED_TUTOR = N_("✅ {who} no longer tutors {what}.")
NOT_A_TUTOR = N_("{who} doesn't tutor {what}.")

COHORT_NEW_USAGE = N_("Usage: <code>/cohort_new &lt;course&gt; &lt;name&gt;</code>")
COHORT_BAD_NAME = (
    N_("A cohort name is 1-63 letters, digits, - or _, starting with a letter or digit "
    "(e.g. <code>spring-2026</code>).")
)
COHORT_EXISTS = N_("There is already a cohort called <b>{name}</b>; pick another name.")
COHORT_CREATED = (
    N_("✅ Cohort <b>{name}</b> created for <b>{course}</b>.\n"
    "Next: add me to the cohort's group as an admin (so I see replies and reactions) and send "
    "<code>/link {name}</code> there. Add members with "
    "<code>/cohort_add {name} email…</code> or a .csv file with that caption.")
)
COHORT_OPENED = N_("✅ Cohort <b>{name}</b> is active again.")
COHORT_CLOSED = (
    N_("✅ Cohort <b>{name}</b> is now inactive: no cold calls, replies or member changes until "
    "<code>/cohort_open {name}</code>.")
)
COHORT_ALREADY_ACTIVE = N_("Cohort <b>{name}</b> is already active.")
COHORT_ALREADY_INACTIVE = N_("Cohort <b>{name}</b> is already inactive.")
COHORTS_NONE = (
    N_("There are no cohorts yet. Create one with "
    "<code>/cohort_new &lt;course&gt; &lt;name&gt;</code>.")
)
LINK_USAGE = N_("Usage (in the group): <code>/link &lt;cohort&gt;</code>")
LINK_IN_GROUP = N_("Send <code>/link &lt;cohort&gt;</code> inside the group you want to link.")
LINKED = N_("✅ This group is now linked to cohort <b>{name}</b> ({course}).{where}{moved}")
LINKED_THREAD = N_(" Cold calls will be posted in this topic.")
LINK_MOVED = N_(" It was linked to cohort <b>{old}</b> before, which is now unlinked.")

COHORT_ADD_USAGE = (
    N_("Usage: <code>/cohort_add &lt;cohort&gt; [batch=N] [status=active|invited|paused|removed] "
    "email…</code>\nor send a .csv file (columns: email, batch, status) with the caption "
    "<code>/cohort_add &lt;cohort&gt;</code>.")
)
MEMBERS_ADDED = N_("✅ Cohort <b>{name}</b>: {added} added, {updated} updated.")
MEMBERS_REJECTED = N_("Not added ({count}):\n{lines}")
INVITES_HEADER = N_("Personal invite links — send each learner their own:")


def invites_caption(count: int, name: str) -> str:
    return ngettext("Invite links for {count} new member of {name}",
                    "Invite links for {count} new members of {name}", count).format(
        count=fmt_number(count), name=esc(name))


CSV_TOO_BIG = N_("That file is too large (limit {limit} KB).")

JOINED = (
    N_("🎉 Welcome to cohort <b>{name}</b> ({course}), batch {batch}! You're enrolled in the "
    "course; your cohort's group is where cold calls happen.")
)
JOIN_ALREADY = N_("You're already in cohort <b>{name}</b>.")
JOIN_TAKEN = N_(
    "This invite link has already been used by someone else. Ask your tutor for your own."
)
JOIN_UNKNOWN = N_("That invite link isn't valid. Ask your tutor for a new one.")
JOIN_REMOVED = N_("This invite is no longer valid for cohort <b>{name}</b>. Ask your tutor.")
JOIN_INACTIVE = N_("Cohort <b>{name}</b> isn't active at the moment. Ask your tutor.")
JOIN_OTHER_SEAT = N_("You're already a member of cohort <b>{name}</b> with another invite.")

PROJECT_USAGE = (
    N_("Usage: <code>/project &lt;cohort&gt; &lt;batch&gt; &lt;title&gt; &lt;url&gt;</code>")
)
PROJECT_BAD_URL = N_("The project link must start with http:// or https://.")
PROJECT_SET = (
    N_("✅ Batch {batch} of <b>{name}</b>: project “{title}” is set. Its learners see it in "
    "/progress.")
)
PROJECTS_HEADER = N_("<b>Your cohort projects</b>")

COLDCALL_USAGE = (
    N_("Usage: <code>/coldcall &lt;topic&gt;</code> in the cohort's group, or "
    "<code>/coldcall &lt;cohort&gt; &lt;topic&gt;</code> privately. A topic is its number "
    "(<code>1.2</code>), its key, or part of its title.")
)
COLDCALL_NOT_LINKED = (
    N_("Cohort <b>{name}</b> isn't linked to a group yet: send <code>/link {name}</code> in "
       "the group.")
)
TOPIC_UNKNOWN = N_("No topic of <b>{course}</b> matches “{ref}”.")
TOPIC_AMBIGUOUS = (
    N_("“{ref}” matches several topics: {options}. Use its number, e.g. <code>{example}</code>.")
)
TOPIC_NO_PROMPTS = (
    N_("Topic “{title}” has no cold-call prompts. Add <code>[[cold_calls]]</code> for it to the "
    "course and re-import.")
)
COLDCALL_POST = (
    N_("🎯 <b>Cold call</b> — {topic}\n\n{prompt}\n\n<i>Reply to this message to answer.</i>")
)
COLDCALL_POSTED = N_("✅ Posted prompt {order} of {total} for “{topic}” to cohort <b>{name}</b>.")
COLDCALL_FAILED = N_("❌ I couldn't post to the group: {reason}")
NOT_MEMBER_DM = (
    N_("Hi! Your reply in “{group}” wasn't recorded: you're not a member of cohort <b>{name}</b>. "
    "Ask your tutor for your personal invite link and open it here — then your answers count.")
)
STAR_USAGE = N_("Reply to an answer with /star to star it (again to take the star back).")
STAR_NOT_ANSWER = N_("That message isn't a cold-call answer I recorded.")
STAR_OWN = N_("You can't star your own answer.")
TOP_NOTHING_POSTED = N_("No cold call has been posted in cohort <b>{name}</b> yet.")
TOP_HEADER = N_("🏆 <b>Top answers</b> — {topic}\n<i>{prompt}</i>")

BROADCAST_USAGE = (
    N_("Usage: <code>/broadcast &lt;course|cohort&gt; &lt;text&gt;</code>\n"
    "If a course and a cohort share the name, write <code>course:name</code> or "
    "<code>cohort:name</code>.")
)
BROADCAST_UNKNOWN_TARGET = N_("“{target}” is neither a course nor a cohort.")
BROADCAST_AMBIGUOUS = (
    N_("“{target}” is both a course and a cohort: write <code>course:{target}</code> or "
    "<code>cohort:{target}</code>.")
)
BROADCAST_NOBODY = N_("Nobody to send to: {label} has no reachable learners.")
BROADCAST_CANCELLED = N_("Broadcast cancelled; nothing was sent.")
BROADCAST_ALREADY = {
    "sending": N_("This broadcast was already started."),
    "done": N_("This broadcast was already sent."),
    "cancelled": N_("This broadcast was already cancelled."),
}
BROADCAST_STARTING = N_("Sending…")
BROADCAST_STOPPING = N_("Stopping…")
BROADCAST_GONE = N_("That broadcast no longer exists.")


def starred(n: int, on: bool) -> str:
    if on:
        return ngettext("⭐ Starred — {n} star now.", "⭐ Starred — {n} stars now.", n).format(
            n=fmt_number(n))
    return ngettext("Star removed — {n} star now.", "Star removed — {n} stars now.", n).format(
        n=fmt_number(n))


def broadcast_preview(label: str, n: int, body: str) -> str:
    return ngettext("📣 <b>Broadcast to {label}</b> — {n} learner. The message:\n\n{body}",
                    "📣 <b>Broadcast to {label}</b> — {n} learners. The message:\n\n{body}",
                    n).format(label=label, n=fmt_number(n), body=body)


def export_caption(title: str, count: int) -> str:
    return ngettext("Learner progress — {title} ({count} learner)",
                    "Learner progress — {title} ({count} learners)", count).format(
        title=esc(title), count=fmt_number(count))


def quota_set(title: str, n: int, old: int) -> str:
    return ngettext("✅ <b>{title}</b>: {n} typed question per module (was {old}).",
                    "✅ <b>{title}</b>: {n} typed questions per module (was {old}).", n).format(
        title=esc(title), n=fmt_number(n), old=fmt_number(old))


def fmt_seconds(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return _("{seconds} s").format(seconds=seconds)
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        if seconds:
            return _("{minutes} min {seconds} s").format(minutes=minutes, seconds=seconds)
        return _("{minutes} min").format(minutes=minutes)
    hours, minutes = divmod(minutes, 60)
    return _("{hours} h {minutes} min").format(hours=hours, minutes=minutes)


def broadcast_progress(label: str, sent: int, failed: int, unconfirmed: int, left: int,
                       total: int, eta_seconds: float | None) -> str:
    eta = fmt_seconds(eta_seconds) if eta_seconds is not None else "—"
    n = fmt_number
    lines = [_("📣 Broadcast to <b>{label}</b>: sending…").format(label=esc(label)),
             _("✅ sent {sent} · ❌ failed {failed} · ⏳ left {left} of {total}").format(
                 sent=n(sent), failed=n(failed), left=n(left), total=n(total)),
             _("ETA ~{eta}").format(eta=eta)]
    if unconfirmed:
        lines.insert(2, _("❔ unconfirmed {n} (in flight during a restart; not re-sent)").format(
            n=n(unconfirmed)))
    return "\n".join(lines)


def broadcast_finished(label: str, sent: int, failed: int, unconfirmed: int, total: int,
                       seconds: float | None, stopped: bool) -> str:
    if stopped:
        head = (_("⏹ Broadcast to <b>{label}</b> stopped in {time}.") if seconds else
                _("⏹ Broadcast to <b>{label}</b> stopped."))
    else:
        head = (_("✅ Broadcast to <b>{label}</b> done in {time}.") if seconds else
                _("✅ Broadcast to <b>{label}</b> done."))
    n = fmt_number
    lines = [head.format(label=esc(label), time=fmt_seconds(seconds or 0)),
             _("✅ sent {sent} · ❌ failed {failed} of {total}").format(
                 sent=n(sent), failed=n(failed), total=n(total))]
    if unconfirmed:
        lines.append(ngettext(
            "❔ {n} was in flight during a restart: it probably arrived and was not sent again.",
            "❔ {n} were in flight during a restart: they probably arrived and were not sent "
            "again.", unconfirmed).format(n=n(unconfirmed)))
    if stopped:
        lines.append(_("⏳ not sent: {n}").format(n=n(total - sent - failed - unconfirmed)))
    return "\n".join(lines)


STATS_USAGE = N_("Usage: <code>/stats [course]</code>")
STATS_NO_COURSES = N_("No courses yet: import one with /import.")
EXPORT_USAGE = N_("Usage: <code>/export &lt;course&gt;</code>")
PAGE_USAGE = (
    N_("Usage: <code>/page &lt;slug&gt; &lt;text&gt;</code> — slugs: {slugs}. Formatting in your "
    "message is kept; the welcome page may use <code>{{name}}</code> for the learner's name.\n"
    "Current text of <b>{slug}</b>:")
)
PAGE_UNKNOWN = N_("There is no page “{slug}”. Pages: {slugs}.")
PAGE_SAVED = N_("✅ Page <b>{slug}</b> updated. This is what learners will see:")
QUOTA_USAGE = (
    N_("Usage: <code>/quota &lt;course&gt; &lt;n&gt;</code> — typed questions per module "
    "(0-10000).")
)


def stats_overview(lines: list) -> str:
    out = [_("📊 <b>All courses</b>")]
    for c in lines:
        rate = round(100 * c.completed / c.enrolled) if c.enrolled else 0
        out.append(_("<b>{title}</b> (<code>{slug}</code>): {enrolled} enrolled · active "
                     "{active_7d} (7 d) / {active_30d} (30 d) · {completed} completed "
                     "({rate}%)").format(
            title=esc(c.title), slug=esc(c.slug), enrolled=fmt_number(c.enrolled),
            active_7d=fmt_number(c.active_7d), active_30d=fmt_number(c.active_30d),
            completed=fmt_number(c.completed), rate=rate))
    out.append("\n" + _("Details: <code>/stats &lt;course&gt;</code>"))
    return "\n".join(out)


def stats_course(title: str, e: Any, funnel: list, hard: list, drop: Any,
                 time_to_complete: tuple[float | None, float | None] = (None, None),
                 quizzes: list | None = None) -> str:
    n = fmt_number
    out = [f"📊 <b>{esc(title)}</b>",
           _("Enrolled: {total} ({active} active, {paused} paused, {completed} completed)").format(
               total=n(e.total), active=n(e.active), paused=n(e.paused),
               completed=n(e.completed)),
           _("Completion rate: {rate}%").format(rate=e.completion_rate),
           _("Active learners: {active_7d} (7 days) · {active_30d} (30 days)").format(
               active_7d=n(e.active_7d), active_30d=n(e.active_30d)),
           "", _("<b>Funnel by module</b> (started → completed)")]
    for m in funnel:
        out.append(_("Module {module}: {title} — {started} → {completed}").format(
            module=m.module_no, title=esc(m.title), started=n(m.started),
            completed=n(m.completed)))
    out += ["", _("<b>Difficult topics</b> (attempts, minutes, completion)")]
    if not hard:
        out.append(_("No progress recorded yet."))
    for t in hard:
        out.append(ngettext(
            "{number} {title} — {attempts} attempt, {minutes} min, {share} of {learners}",
            "{number} {title} — {attempts} attempts, {minutes} min, {share} of {learners}",
            2 if t.avg_attempts != 1 else 1).format(
            number=f"{t.module_no}.{t.topic_number}", title=esc(t.title),
            attempts=n(t.avg_attempts), minutes=n(t.avg_minutes), share=f"{t.completion_rate}%",
            learners=n(t.learners)))
    out += ["", ngettext(
        "<b>Dropout</b> (idle {days}+ day, not finished): {learners} of {open} ({rate}%)",
        "<b>Dropout</b> (idle {days}+ days, not finished): {learners} of {open} ({rate}%)",
        drop.idle_days).format(days=drop.idle_days, learners=n(drop.learners),
                               open=n(drop.open_enrollments), rate=drop.rate)]
    for module_no, stopped in sorted(drop.by_module.items()):
        if module_no == 0:
            line = _("  {n} stopped before their first journey")
        else:
            line = _("  {n} stopped in module {module}")
        out.append(line.format(n=n(stopped), module=module_no))
    avg_days, median_days = time_to_complete
    if avg_days is not None:
        out.append(_("Time to complete: {avg} days on average (median {median})").format(
            avg=n(avg_days), median=n(median_days or 0)))
    if quizzes:
        out += ["", _("<b>Quizzes</b> (attempts, passed)")]
        for module_no, total, passed, rate in quizzes:
            out.append(ngettext(
                "Module {module}: {total} attempt, {passed} passed ({rate}%)",
                "Module {module}: {total} attempts, {passed} passed ({rate}%)", total).format(
                module=module_no, total=n(total), passed=n(passed), rate=n(rate)))
    return "\n".join(out)


def projects_block(projects: list) -> str:
    if not projects:
        return ""
    lines = ["", "", _msg("PROJECTS_HEADER")]
    for p in projects:
        lines.append(_("• {cohort} (batch {batch}): {link}").format(
            cohort=esc(p.cohort_name), batch=p.batch_no,
            link=f'<a href="{esc(p.url)}">{esc(p.title)}</a>'))
    return "\n".join(lines)


def cohorts_list(items: list) -> str:
    if not items:
        return _msg("COHORTS_NONE")
    lines = [_("<b>Cohorts</b>")]
    for c in items:
        line = (_("<b>{name}</b> ({course}) — {joined}/{members} joined · linked") if c.linked
                else _("<b>{name}</b> ({course}) — {joined}/{members} joined · no group yet"))
        if not c.is_active:
            line += _(" · inactive")
        lines.append(line.format(name=esc(c.name), course=esc(c.course_slug), joined=c.joined,
                                 members=c.members))
    return "\n".join(lines)


def top_answers(topic: str, prompt: str, answers: list, total: int) -> str:
    lines = [_msg("TOP_HEADER").format(topic=esc(topic), prompt=esc(snippet(prompt, 200)))]
    if not answers:
        lines.append(ngettext("No starred answers yet ({answers} answer so far).",
                              "No starred answers yet ({answers} answers so far).",
                              total).format(answers=fmt_number(total)))
    for rank, a in enumerate(answers, 1):
        lines.append(f"{rank}. ⭐{a.stars} <b>{esc(a.author)}</b>: {esc(snippet(a.body, 160))}")
    return "\n".join(lines)


def snippet(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --- ask the course: answers, quota, sessions, personas ----------------------------------------

ASK_NOT_ENROLLED = (
    N_("I answer questions about your course — enroll in one first (/courses), then just type "
    "your question.")
)
DONT_KNOW = (
    N_("🤔 I couldn't find that in <b>{course}</b>, so I won't guess. Try asking it another way, "
    "or about something the course covers.")
)
DONT_KNOW_FREE = N_("\n<i>This one didn't count against your questions.</i>")
EXCERPTS_LABEL = {
    "normal": N_("📖 <i>From the course (excerpts):</i>"),
    "sports": N_("🏟️ <i>Straight from the course playbook (excerpts):</i>"),
    "cooking": N_("🍳 <i>From the course cookbook (excerpts):</i>"),
    "adventure": N_("🧭 <i>From the course map (excerpts):</i>"),
}
LLM_FALLBACK_NOTE = (
    N_("<i>(The AI tutor didn't answer this time, so here are the most relevant passages of the "
    "course instead.)</i>")
)
SOURCES_HEADER = N_("📚 <b>Sources</b>")


def quota_left(left: int, quota: int, module: int) -> str:
    return ngettext("<i>{left} of {quota} typed question left in Module {module}.</i>",
                    "<i>{left} of {quota} typed questions left in Module {module}.</i>",
                    quota).format(left=fmt_number(left), quota=fmt_number(quota), module=module)


def quota_exhausted(quota: int, module: int, title: str, *, suggestions: bool) -> str:
    if suggestions:
        text = ngettext(
            "You've used your {quota} typed question for <b>Module {module}: {title}</b>.\n"
            "Suggested questions are always free — tap one below.",
            "You've used all {quota} typed questions for <b>Module {module}: {title}</b>.\n"
            "Suggested questions are always free — tap one below.", quota)
    else:
        text = ngettext(
            "You've used your {quota} typed question for <b>Module {module}: {title}</b>. "
            "You'll get new ones with the next module's journeys.",
            "You've used all {quota} typed questions for <b>Module {module}: {title}</b>. "
            "You'll get new ones with the next module's journeys.", quota)
    return text.format(quota=fmt_number(quota), module=module, title=title)


QUOTA_STATUS = (
    N_("<b>{course}</b> · Module {module}: {title}\n"
    "Typed questions left: <b>{left}</b> of {quota}.\n"
    "Tapping a suggested question is always free.")
)
NEW_SESSION = (
    N_("🧹 Fresh start: I've set aside our conversation about <b>{topic}</b>. Ask me anything.")
)
SUGGESTION_GONE = N_("That suggestion is no longer available.")
ASK_FAILED = N_("Sorry, something went wrong while answering. Your question wasn't counted.")
VOTE_UP = N_("👍 Helpful")
VOTE_DOWN = N_("👎 Not helpful")
VOTE_CHOSEN = N_("✔ ")
VOTE_THANKS = {True: N_("Thanks! Glad it helped."),
               False: N_("Thanks — your tutors will see this one and can improve the material.")}
VOTE_SAME = N_("You've already said so. Tap the other button to change your vote.")
VOTE_REFUSED = N_("You can only rate answers to your own questions.")
DOWNVOTED_USAGE = N_("Usage: <code>/downvoted &lt;course&gt;</code> — the course's 👎 answers.")
DOWNVOTED_NONE = N_("No down-voted answers in <b>{title}</b>. 🎉")
PERSONA_LABELS = {
    "normal": N_("📘 Plain"),
    "sports": N_("🏟️ Sports"),
    "cooking": N_("🍳 Cooking"),
    "adventure": N_("🧭 Adventure"),
}
PROFILE_LABELS = {
    "non_it_migrant": N_("🌱 New to IT"),
    "rote_memorizer": N_("🧠 Tell me why"),
    "english_hesitant": N_("🔤 Simple English"),
    "last_minute_panic": N_("⏱️ Short on time"),
    "pseudo_coder": N_("💻 Precise code"),
}
PERSONA_MENU = (
    N_("<b>Your style for {course}</b>\n"
    "Style: <b>{persona}</b> — journeys use matching examples where the course has them, and "
    "answers borrow its analogies.\n"
    "About you: <b>{profile}</b> — shapes how answers are explained.\n"
    "Tap to change:")
)
PERSONA_SET = N_("Style for <b>{course}</b> set to <b>{label}</b>.")
PROFILE_SET = N_("Got it — answers in <b>{course}</b> will suit: <b>{label}</b>.")
PROFILE_CLEARED = N_("Profile cleared for <b>{course}</b>.")
PERSONA_UNAVAILABLE = N_("That choice isn't available for this course.")


def answer_messages(
    text_blocks: list[str], *, mode: str, persona: str, note: bool,
    sources: list[tuple[int, str, int]], quota_line: str | None,
) -> list[str]:
    """An answer as Telegram messages (≤ 4096 chars each): label, body, sources, quota."""
    head = []
    if mode == "extractive":
        labels = _msg("EXCERPTS_LABEL")
        head.append(labels.get(persona, labels["normal"]))
        if note:
            head.append(_msg("LLM_FALLBACK_NOTE"))
    tail = []
    if sources:
        tail.append(_msg("SOURCES_HEADER") + "\n" + "\n".join(
            _("[{n}] {title} (module {module})").format(n=n, title=esc(title), module=module)
            for n, title, module in sources))
    if quota_line:
        tail.append(quota_line)
    return pack([*(["\n".join(head)] if head else []), *text_blocks, *tail])


# Privacy self-service
MY_DATA_CAPTION = (N_("Everything I keep about you: profile, enrollments, progress, quiz answers, "
                   "questions and group answers. /delete_me erases it."))
DELETE_ME_CONFIRM = (
    N_("This erases your profile, enrollments, progress, XP, quiz answers and questions, and I "
    "will stop writing to you. It can't be undone. Your cohort's roster keeps your e-mail "
    "(your tutors manage it), without a link to you.\n\nErase everything?"))
BTN_START = N_("▶️ Start")
BTN_DONE = N_("✅ Done")
BTN_CONTINUE = N_("▶️ Continue")
BTN_QUIZ = N_("📝 Take the Module {module} quiz")
BTN_LEAVE_YES = N_("🚪 Yes, leave")
BTN_STAY = N_("✖️ Stay")
BTN_CANCEL = N_("✖️ Cancel")
BTN_STOP = N_("⏹ Stop")
NO_PROFILE = N_("🙅 No profile")


def course_button(title: str, journeys: int) -> str:
    return ngettext("{title} ({n} journey)", "{title} ({n} journeys)", journeys).format(
        title=title, n=fmt_number(journeys))


def send_to_button(recipients: int) -> str:
    return ngettext("📣 Send to {n}", "📣 Send to {n}", recipients).format(
        n=fmt_number(recipients))


DELETE_ME_YES = N_("Yes, erase everything")
DELETE_ME_NO = N_("No, keep it")
DELETED = (N_("Done: everything about you is erased and I won't write to you again. If you ever "
           "send me a message, we start fresh."))
DELETE_KEPT = N_("Nothing was erased.")


# --- feedback on answers -----------------------------------------------------------------------

def helpfulness_block(rows: list, questions: list, *, per_course: bool) -> str:
    """/stats: 👍 share of rated answers per course, and the most down-voted questions."""
    out = [_("<b>Answers</b> (rated helpful)")]
    if not rows:
        out.append(_("No questions answered yet."))
    for h in rows:
        rate = (_("{share} helpful").format(share=f"{h.rate}%") if h.rate is not None
                else _("no votes yet"))
        name = f"{esc(h.title)}: " if per_course else ""
        answers = ngettext("{n} answer", "{n} answers", h.answers).format(n=fmt_number(h.answers))
        votes = ngettext("{n} vote", "{n} votes", h.votes).format(n=fmt_number(h.votes))
        out.append(f"{name}{answers}, {votes} — {rate} (👍 {h.up} · 👎 {h.down})")
    if questions:
        out += ["", _("<b>Most down-voted questions</b>")]
        for q in questions:
            where = f" <code>{esc(q.course_slug)}</code>" if per_course else ""
            out.append(f"👎 {q.down}{where} — {esc(snippet(q.question, 120))}")
    return "\n".join(out)


def downvoted_list(title: str, answers: list) -> str:
    out = [_("👎 <b>Down-voted answers in {title}</b> (latest first)").format(title=esc(title))]
    for a in answers:
        cited = ", ".join(dict.fromkeys(a.cited)) or _("nothing cited")
        found = ", ".join(dict.fromkeys(a.retrieved)) or _("nothing close enough")
        mode = {"llm": _("AI"), "extractive": _("excerpts"), "unknown": _("\"don't know\"")}.get(
            a.mode, a.mode)
        out.append("\n" + _(
            "<b>Q:</b> {question}\n<b>A</b> ({mode}): {answer}\n"
            "<i>Cited: {cited}. Retrieved: {retrieved}.</i>").format(
            question=esc(snippet(a.question, 200)), mode=mode, answer=esc(snippet(a.answer, 300)),
            cited=esc(cited), retrieved=esc(found)))
    return "\n".join(out)


# Every upper-case text above is a msgid: taken out of the module namespace so that reading
# `texts.NAME` goes through __getattr__, which translates it into the current locale.
_MESSAGES: dict[str, Any] = {
    name: value for name, value in globals().items()
    if name.isupper() and not name.startswith("_") and isinstance(value, str | dict)
}
for _name in _MESSAGES:
    del globals()[_name]


def _translate(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _translate(v) for k, v in value.items()}
    return _(value)


def _msg(name: str) -> Any:
    return _translate(_MESSAGES[name])


def __getattr__(name: str) -> Any:
    try:
        return _msg(name)
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def message_names() -> list[str]:
    """Every named text (for tests and tooling)."""
    return sorted(_MESSAGES)
