"""Every user-facing text, in one place. HTML parse mode: dynamic values go through `esc`."""

from __future__ import annotations

import html
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.ui.markdown import pack, to_blocks
from storage.journeys import JourneyView
from storage.progress import CourseProgress

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
        "In your cohort's group: reply to a cold call to answer it, /star (as a reply) to star "
        "an answer, /top for the best answers\n"
        "/help — this message"
    ),
    "about": "learnbot: one short journey a day, answers from your course, and your cohort.",
}

UNKNOWN_COMMAND = "I don't know the command {command}. Send /help to see what I can do."
COURSE_GONE = "That course isn't available any more. Send /courses to see what is."
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
PAUSED_COURSE = (
    "Daily journeys for <b>{title}</b> are paused. Send <code>/resume {slug}</code> whenever "
    "you want them back."
)
RESUMED = "Welcome back! Daily journeys will arrive again at {hour:02d}:00 ({tz})."
RESUMED_COURSE = "Daily journeys for <b>{title}</b> will arrive again at {hour:02d}:00 ({tz})."
NOT_IN_COURSE = (
    "You're not in a course called “{slug}”. Your courses: {courses}."
)
LEAVE_PICK = "Which course do you want to leave? Your progress is kept if you come back."
LEAVE_CONFIRM = (
    "Leave <b>{title}</b>? No more daily journeys will arrive for it. Your progress is kept: "
    "enroll again (/courses) to pick up where you left off."
)
LEFT = "You've left <b>{title}</b>. Enroll again from /courses whenever you like."
LEAVE_KEPT = "Good — you're staying in <b>{title}</b>."
REJOINED = "Welcome back to <b>{title}</b>! You pick up where you left off."
COURSE_PICK = (
    "Your typed questions are about <b>{title}</b> now. Tap another course to switch:"
)
COURSE_PICKED = "From now on your typed questions are about <b>{title}</b>."
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
USE_PRIVATE_CHAT = "That command works only in a private chat with me: https://t.me/{username}"
BUSY = "I'm very busy right now — please try again in a moment."
DB_TROUBLE = "I'm having trouble right now — please try again in a minute."
BUTTON_STALE = "That button no longer works. Send /today or /help to continue."
IMPORT_STARTED = "⏳ Importing <b>{name}</b>… I'll update this message as it goes."
IMPORT_PROGRESS = "⏳ Importing <b>{name}</b>: {step}"
IMPORT_USAGE = "Send the course as a .zip file with the caption /import."
IMPORT_OK = "✅ Imported: {summary}"
IMPORT_FAILED = "❌ The course was not imported ({count} problem{s}):\n{problems}"


def fmt_when(moment: datetime | None, tz: str) -> str:
    if moment is None:
        return "—"
    local = moment.astimezone(ZoneInfo(tz))
    return local.strftime("%a %d %b, %H:%M")


def fmt_date(moment: datetime | None, tz: str) -> str:
    return moment.astimezone(ZoneInfo(tz)).strftime("%d %b") if moment else "—"


def journey_messages(jv: JourneyView, *, again: bool = False) -> list[str]:
    """The journey as Telegram messages: header + body blocks, each message ≤ 4096 chars."""
    title = (SAME_AGAIN + "\n\n" if again else "") + (
        f"📘 <b>{esc(jv.topic_title)}</b>\n"
        f"<i>{esc(jv.course_title)} · Module {jv.module_no}: {esc(jv.module_title)} · "
        f"journey {jv.position} of {jv.total}</i>"
    )
    return pack([title, *to_blocks(jv.body)])


def journey_card(jv: JourneyView) -> str:
    if jv.kind == "farewell":
        return farewell(jv)
    head = (f"⏳ Still waiting for you in <b>{esc(jv.course_title)}</b>:" if jv.waiting
            else f"☀️ Today's journey in <b>{esc(jv.course_title)}</b>:")
    return (
        f"{head}\n"
        f"<b>{esc(jv.topic_title)}</b> (module {jv.module_no}, journey {jv.position} of "
        f"{jv.total}).\nTap Start when you're ready."
    )


def farewell(jv: JourneyView) -> str:
    return (
        f"👋 I haven't heard from you in a while, so I'll stop sending daily journeys for "
        f"<b>{esc(jv.course_title)}</b>. Your progress is kept. Whenever you want to go on, "
        f"tap Continue or send /today — you'll pick up at <b>{esc(jv.topic_title)}</b>."
    )


OPEN_HEADER = "📂 Still open in <b>{title}</b> — tap one to finish it:"
MODULE_MISSING = (
    "🔒 Module {next} unlocks when Module {module} is complete. Still to do in Module "
    "{module}:\n{items}\nTap one to finish it."
)
COURSE_MISSING = (
    "🏁 That was the last journey of <b>{title}</b>. To finish the course, still to do:\n"
    "{items}\nTap one to finish it."
)
QUIZ_TO_UNLOCK = (
    "🔒 Module {next} unlocks when you pass the Module {module} quiz — every journey of "
    "Module {module} is done. Tap to take it:"
)
QUIZ_WAITING = "📝 The Module {module} quiz is waiting for you — tap to take it:"
RETAKE_READY = "📝 You can retake the Module {module} quiz in <b>{title}</b> now. Tap to start:"
TODAY_DONE = (
    "✅ You've had today's new journey in <b>{title}</b> and everything's done. The next one "
    "arrives {when}. Meanwhile, ask me anything about it."
)
NOT_YET = "One new journey a day: this one opens on your next day. Send /today to see today's."


def journey_items(items: list) -> str:
    return "\n".join(f"• {esc(o.topic_title)} (journey {o.position})" for o in items)


def done_text(title: str, seconds: int, next_title: str | None, due: datetime | None,
              tz: str) -> str:
    spent = f" in {seconds // 60} min {seconds % 60} s" if seconds else ""
    text = f"✅ Done: <b>{esc(title)}</b>{spent}. Nice work!"
    if next_title and due:
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
            if m.completed_at:
                mark = f"✅ complete ({fmt_date(m.completed_at, tz)})"
            elif not m.unlocked:
                mark = "🔒 locked"
            elif m.done == m.total and m.has_quiz and not m.quiz_passed:
                mark = f"📝 {m.done}/{m.total} — quiz to pass (/quiz)"
            elif m.started:
                since = f", unlocked {fmt_date(m.unlocked_at, tz)}" if m.unlocked_at else ""
                mark = f"▶️ {m.done}/{m.total}{since}"
            else:
                mark = "🔓 unlocked, not started"
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


# --- quizzes, XP, streaks and badges -----------------------------------------------------------

QUIZ_NONE = "There's no quiz waiting for you right now. Keep going with /today!"
QUIZ_PASSED_ALREADY = "You've already passed the Module {module} quiz. 🎉"
QUIZ_COOLDOWN = (
    "You can retake the Module {module} quiz in {left} (at {when} your time). "
    "Meanwhile, review the module's journeys."
)
QUIZ_GONE = "That quiz question is no longer open. Send /quiz to continue."
QUIZ_START = "📝 <b>Module {module} quiz</b> — {title}\n{total} questions, pass mark {mark}%."
QUIZ_READY = "That was the last journey of Module {module}. Take the quiz to unlock what's next:"
BADGES_NONE = "No badges yet — complete journeys and quizzes to earn them!"


def quiz_question(module: int, index: int, total: int, prompt: str) -> str:
    return f"<b>Question {index + 1}/{total}</b> · Module {module}\n\n{esc(prompt)}"


def quiz_feedback(correct: bool, correct_text: str, explanation: str) -> str:
    head = "✅ Correct!" if correct else f"❌ Not quite — the answer is <b>{esc(correct_text)}</b>."
    return head + (f"\n<i>{esc(explanation)}</i>" if explanation else "")


def quiz_result(score: int, passed: bool, mark: int, module: int, cooldown: str | None,
                xp: int) -> str:
    if passed:
        text = f"🎉 You scored <b>{score}%</b> and passed the Module {module} quiz!"
        if xp:
            text += f" +{xp} XP."
        return text
    return (f"You scored <b>{score}%</b> (pass mark {mark}%). You can retry {cooldown}. "
            "Review the module's journeys in the meantime — you've got this!")


def duration(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def rewards(xp: int, streak: int) -> str:
    parts = []
    if xp:
        parts.append(f"+{xp} XP")
    if streak > 1:
        parts.append(f"🔥 {streak}-day streak")
    return " · ".join(parts)


def badge_won(emoji: str, name: str, description: str) -> str:
    return f"{emoji} New badge: <b>{esc(name)}</b> — {esc(description)}"


def badges_text(items: list, xp: int, level: int, streak: int, longest: int, tz: str) -> str:
    lines = [f"<b>Level {level}</b> · {xp} XP · 🔥 streak {streak} (best {longest})"]
    if not items:
        lines.append(BADGES_NONE)
    for badge, awarded in items:
        lines.append(f"{badge.emoji} <b>{esc(badge.name)}</b> — {esc(badge.description)} "
                     f"({fmt_date(awarded, tz)})")
    return "\n".join(lines)



# --- cohorts, cold calls, tutors and the admin console -------------------------------------------

NOT_COHORT_STAFF = "Only the tutors of <b>{course}</b> (or an admin) can do that."
COHORT_INACTIVE = (
    "The cohort <b>{name}</b> is inactive, so that's not possible now. "
    "An admin can reopen it with <code>/cohort_open {name}</code>."
)
UNKNOWN_COHORT = "I couldn't find a cohort called “{name}”. /cohorts lists the ones you can use."
GROUP_NOT_LINKED = (
    "This group isn't linked to a cohort. An admin can link it by sending "
    "<code>/link &lt;cohort&gt;</code> here."
)
NAME_THE_COHORT = "Name the cohort: <code>/{command} &lt;cohort&gt; {rest}</code>"
NOT_IN_COHORT = "Only members and tutors of cohort <b>{name}</b> can do that."
STAFF_ONLY = "Sorry, only tutors and admins can do that."

GRANT_USAGE = (
    "Usage:\n<code>/grant admin @user</code>\n<code>/grant tutor @user &lt;course&gt;</code>\n"
    "Instead of @user you can give their numeric Telegram id."
)
REVOKE_USAGE = (
    "Usage:\n<code>/revoke admin @user</code>\n<code>/revoke tutor @user [course]</code> "
    "(without a course: every course they tutor)"
)
HANDLE_AMBIGUOUS = (
    "More than one person has used {handle} with me (Telegram usernames change hands), so it "
    "doesn't say who you mean. Use their numeric Telegram id instead.")
HANDLE_STALE = (
    "I haven't heard from {handle} for over 30 days, and the username may belong to someone "
    "else by now. Ask them to message me once, or use their numeric Telegram id.")
UNKNOWN_PERSON = (
    "I don't know {handle} yet. Ask them to send /start to me first, or use their numeric "
    "Telegram id."
)
GRANTED_ADMIN = "✅ {who} is now an admin."
ALREADY_ADMIN = "{who} is already an admin."
GRANTED_TUTOR = "✅ {who} now tutors <b>{course}</b>."
ALREADY_TUTOR = "{who} already tutors <b>{course}</b>."
REVOKED_ADMIN = "✅ {who} is no longer an admin."
NOT_AN_ADMIN = "{who} isn't an admin."
CONFIG_ADMIN = (
    "{who} is an admin through the ADMIN_TELEGRAM_IDS setting; remove them there instead."
)
REVOKE_SELF = "You can't revoke your own admin rights; ask another admin."
REVOKED_TUTOR = "✅ {who} no longer tutors {what}."
NOT_A_TUTOR = "{who} doesn't tutor {what}."

COHORT_NEW_USAGE = "Usage: <code>/cohort_new &lt;course&gt; &lt;name&gt;</code>"
COHORT_BAD_NAME = (
    "A cohort name is 1-63 letters, digits, - or _, starting with a letter or digit "
    "(e.g. <code>spring-2026</code>)."
)
COHORT_EXISTS = "There is already a cohort called <b>{name}</b>; pick another name."
COHORT_CREATED = (
    "✅ Cohort <b>{name}</b> created for <b>{course}</b>.\n"
    "Next: add me to the cohort's group as an admin (so I see replies and reactions) and send "
    "<code>/link {name}</code> there. Add members with "
    "<code>/cohort_add {name} email…</code> or a .csv file with that caption."
)
COHORT_OPENED = "✅ Cohort <b>{name}</b> is active again."
COHORT_CLOSED = (
    "✅ Cohort <b>{name}</b> is now inactive: no cold calls, replies or member changes until "
    "<code>/cohort_open {name}</code>."
)
COHORT_UNCHANGED = "Cohort <b>{name}</b> is already {state}."
COHORTS_NONE = (
    "There are no cohorts yet. Create one with "
    "<code>/cohort_new &lt;course&gt; &lt;name&gt;</code>."
)
LINK_USAGE = "Usage (in the group): <code>/link &lt;cohort&gt;</code>"
LINK_IN_GROUP = "Send <code>/link &lt;cohort&gt;</code> inside the group you want to link."
LINKED = "✅ This group is now linked to cohort <b>{name}</b> ({course}).{where}{moved}"
LINKED_THREAD = " Cold calls will be posted in this topic."
LINK_MOVED = " It was linked to cohort <b>{old}</b> before, which is now unlinked."

COHORT_ADD_USAGE = (
    "Usage: <code>/cohort_add &lt;cohort&gt; [batch=N] [status=active|invited|paused|removed] "
    "email…</code>\nor send a .csv file (columns: email, batch, status) with the caption "
    "<code>/cohort_add &lt;cohort&gt;</code>."
)
MEMBERS_ADDED = "✅ Cohort <b>{name}</b>: {added} added, {updated} updated."
MEMBERS_REJECTED = "Not added ({count}):\n{lines}"
INVITES_HEADER = "Personal invite links — send each learner their own:"
INVITES_CAPTION = "Invite links for {count} new member{s} of {name}"
CSV_TOO_BIG = "That file is too large (limit {limit} KB)."

JOINED = (
    "🎉 Welcome to cohort <b>{name}</b> ({course}), batch {batch}! You're enrolled in the "
    "course; your cohort's group is where cold calls happen."
)
JOIN_ALREADY = "You're already in cohort <b>{name}</b>."
JOIN_TAKEN = "This invite link has already been used by someone else. Ask your tutor for your own."
JOIN_UNKNOWN = "That invite link isn't valid. Ask your tutor for a new one."
JOIN_REMOVED = "This invite is no longer valid for cohort <b>{name}</b>. Ask your tutor."
JOIN_INACTIVE = "Cohort <b>{name}</b> isn't active at the moment. Ask your tutor."
JOIN_OTHER_SEAT = "You're already a member of cohort <b>{name}</b> with another invite."

PROJECT_USAGE = (
    "Usage: <code>/project &lt;cohort&gt; &lt;batch&gt; &lt;title&gt; &lt;url&gt;</code>"
)
PROJECT_BAD_URL = "The project link must start with http:// or https://."
PROJECT_SET = (
    "✅ Batch {batch} of <b>{name}</b>: project “{title}” is set. Its learners see it in "
    "/progress."
)
PROJECTS_HEADER = "<b>Your cohort projects</b>"

COLDCALL_USAGE = (
    "Usage: <code>/coldcall &lt;topic&gt;</code> in the cohort's group, or "
    "<code>/coldcall &lt;cohort&gt; &lt;topic&gt;</code> privately. A topic is its number "
    "(<code>1.2</code>), its key, or part of its title."
)
COLDCALL_NOT_LINKED = (
    "Cohort <b>{name}</b> isn't linked to a group yet: send <code>/link {name}</code> in the group."
)
TOPIC_UNKNOWN = "No topic of <b>{course}</b> matches “{ref}”."
TOPIC_AMBIGUOUS = (
    "“{ref}” matches several topics: {options}. Use its number, e.g. <code>{example}</code>."
)
TOPIC_NO_PROMPTS = (
    "Topic “{title}” has no cold-call prompts. Add <code>[[cold_calls]]</code> for it to the "
    "course and re-import."
)
COLDCALL_POST = (
    "🎯 <b>Cold call</b> — {topic}\n\n{prompt}\n\n<i>Reply to this message to answer.</i>"
)
COLDCALL_POSTED = "✅ Posted prompt {order} of {total} for “{topic}” to cohort <b>{name}</b>."
COLDCALL_FAILED = "❌ I couldn't post to the group: {reason}"
NOT_MEMBER_DM = (
    "Hi! Your reply in “{group}” wasn't recorded: you're not a member of cohort <b>{name}</b>. "
    "Ask your tutor for your personal invite link and open it here — then your answers count."
)
STAR_USAGE = "Reply to an answer with /star to star it (again to take the star back)."
STAR_NOT_ANSWER = "That message isn't a cold-call answer I recorded."
STAR_OWN = "You can't star your own answer."
STARRED = "⭐ Starred — {n} star{s} now."
UNSTARRED = "Star removed — {n} star{s} now."
TOP_NOTHING_POSTED = "No cold call has been posted in cohort <b>{name}</b> yet."
TOP_HEADER = "🏆 <b>Top answers</b> — {topic}\n<i>{prompt}</i>"
TOP_EMPTY = "No starred answers yet ({answers} answer{s} so far)."

BROADCAST_USAGE = (
    "Usage: <code>/broadcast &lt;course|cohort&gt; &lt;text&gt;</code>\n"
    "If a course and a cohort share the name, write <code>course:name</code> or "
    "<code>cohort:name</code>."
)
BROADCAST_UNKNOWN_TARGET = "“{target}” is neither a course nor a cohort."
BROADCAST_AMBIGUOUS = (
    "“{target}” is both a course and a cohort: write <code>course:{target}</code> or "
    "<code>cohort:{target}</code>."
)
BROADCAST_NOBODY = "Nobody to send to: {label} has no reachable learners."
BROADCAST_PREVIEW = "📣 <b>Broadcast to {label}</b> — {n} learner{s}. The message:\n\n{body}"
BROADCAST_CANCELLED = "Broadcast cancelled; nothing was sent."
BROADCAST_NOT_DRAFT = "This broadcast was already {status}."
BROADCAST_STARTING = "Sending…"
BROADCAST_STOPPING = "Stopping…"
BROADCAST_GONE = "That broadcast no longer exists."


def plural(n: int) -> str:
    return "" if n == 1 else "s"


def fmt_seconds(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def broadcast_progress(label: str, sent: int, failed: int, unconfirmed: int, left: int,
                       total: int, eta_seconds: float | None) -> str:
    eta = fmt_seconds(eta_seconds) if eta_seconds is not None else "—"
    lines = [f"📣 Broadcast to <b>{esc(label)}</b>: sending…",
             f"✅ sent {sent} · ❌ failed {failed} · ⏳ left {left} of {total}",
             f"ETA ~{eta}"]
    if unconfirmed:
        lines.insert(2, f"❔ unconfirmed {unconfirmed} (in flight during a restart; not re-sent)")
    return "\n".join(lines)


def broadcast_finished(label: str, sent: int, failed: int, unconfirmed: int, total: int,
                       seconds: float | None, stopped: bool) -> str:
    head = f"{'⏹' if stopped else '✅'} Broadcast to <b>{esc(label)}</b> "
    head += "stopped" if stopped else "done"
    head += (f" in {fmt_seconds(seconds)}" if seconds else "") + "."
    lines = [head, f"✅ sent {sent} · ❌ failed {failed} of {total}"]
    if unconfirmed:
        lines.append(f"❔ {unconfirmed} were in flight during a restart: they probably arrived "
                     "and were not sent again.")
    if stopped:
        lines.append(f"⏳ not sent: {total - sent - failed - unconfirmed}")
    return "\n".join(lines)


STATS_USAGE = "Usage: <code>/stats [course]</code>"
STATS_NO_COURSES = "No courses yet: import one with /import."
EXPORT_USAGE = "Usage: <code>/export &lt;course&gt;</code>"
EXPORT_CAPTION = "Learner progress — {title} ({count} learner{s})"
PAGE_USAGE = (
    "Usage: <code>/page &lt;slug&gt; &lt;text&gt;</code> — slugs: {slugs}. Formatting in your "
    "message is kept; the welcome page may use <code>{{name}}</code> for the learner's name.\n"
    "Current text of <b>{slug}</b>:"
)
PAGE_UNKNOWN = "There is no page “{slug}”. Pages: {slugs}."
PAGE_SAVED = "✅ Page <b>{slug}</b> updated. This is what learners will see:"
QUOTA_USAGE = (
    "Usage: <code>/quota &lt;course&gt; &lt;n&gt;</code> — typed questions per module "
    "(0-10000)."
)
QUOTA_SET = "✅ <b>{title}</b>: {n} typed question{s} per module (was {old})."


def stats_overview(lines: list) -> str:
    out = ["📊 <b>All courses</b>"]
    for c in lines:
        rate = round(100 * c.completed / c.enrolled) if c.enrolled else 0
        out.append(f"<b>{esc(c.title)}</b> (<code>{esc(c.slug)}</code>): {c.enrolled} enrolled · "
                   f"active {c.active_7d} (7 d) / {c.active_30d} (30 d) · "
                   f"{c.completed} completed ({rate}%)")
    out.append("\nDetails: <code>/stats &lt;course&gt;</code>")
    return "\n".join(out)


def stats_course(title: str, e, funnel: list, hard: list, drop,
                 time_to_complete: tuple[float | None, float | None] = (None, None),
                 quizzes: list | None = None) -> str:
    out = [f"📊 <b>{esc(title)}</b>",
           f"Enrolled: {e.total} ({e.active} active, {e.paused} paused, {e.completed} completed)",
           f"Completion rate: {e.completion_rate}%",
           f"Active learners: {e.active_7d} (7 days) · {e.active_30d} (30 days)",
           "", "<b>Funnel by module</b> (started → completed)"]
    for m in funnel:
        out.append(f"Module {m.module_no}: {esc(m.title)} — {m.started} → {m.completed}")
    out += ["", "<b>Difficult topics</b> (attempts, minutes, completion)"]
    if not hard:
        out.append("No progress recorded yet.")
    for t in hard:
        attempts = "attempt" if t.avg_attempts == 1 else "attempts"
        out.append(f"{t.module_no}.{t.topic_number} {esc(t.title)} — {t.avg_attempts:g} "
                   f"{attempts}, {t.avg_minutes:g} min, {t.completion_rate}% of {t.learners}")
    out += ["", f"<b>Dropout</b> (idle {drop.idle_days}+ days, not finished): "
                f"{drop.learners} of {drop.open_enrollments} ({drop.rate}%)"]
    for module_no, n in sorted(drop.by_module.items()):
        where = "before their first journey" if module_no == 0 else f"in module {module_no}"
        out.append(f"  {n} stopped {where}")
    avg_days, median_days = time_to_complete
    if avg_days is not None:
        out.append(f"Time to complete: {avg_days:g} days on average (median {median_days:g})")
    if quizzes:
        out += ["", "<b>Quizzes</b> (attempts, passed)"]
        for module_no, total, passed, rate in quizzes:
            out.append(f"Module {module_no}: {total} attempts, {passed} passed ({rate:g}%)")
    return "\n".join(out)


def projects_block(projects: list) -> str:
    if not projects:
        return ""
    lines = ["", "", PROJECTS_HEADER]
    for p in projects:
        lines.append(f"• {esc(p.cohort_name)} (batch {p.batch_no}): "
                     f'<a href="{esc(p.url)}">{esc(p.title)}</a>')
    return "\n".join(lines)


def cohorts_list(items: list) -> str:
    if not items:
        return COHORTS_NONE
    lines = ["<b>Cohorts</b>"]
    for c in items:
        state = "" if c.is_active else " · inactive"
        link = "linked" if c.linked else "no group yet"
        lines.append(f"<b>{esc(c.name)}</b> ({esc(c.course_slug)}) — {c.joined}/{c.members} "
                     f"joined · {link}{state}")
    return "\n".join(lines)


def top_answers(topic: str, prompt: str, answers: list, total: int) -> str:
    lines = [TOP_HEADER.format(topic=esc(topic), prompt=esc(snippet(prompt, 200)))]
    if not answers:
        lines.append(TOP_EMPTY.format(answers=total, s=plural(total)))
    for rank, a in enumerate(answers, 1):
        lines.append(f"{rank}. ⭐{a.stars} <b>{esc(a.author)}</b>: {esc(snippet(a.body, 160))}")
    return "\n".join(lines)


def snippet(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --- ask the course: answers, quota, sessions, personas ----------------------------------------

ASK_NOT_ENROLLED = (
    "I answer questions about your course — enroll in one first (/courses), then just type "
    "your question."
)
DONT_KNOW = (
    "🤔 I couldn't find that in <b>{course}</b>, so I won't guess. Try asking it another way, "
    "or about something the course covers."
)
DONT_KNOW_FREE = "\n<i>This one didn't count against your questions.</i>"
EXCERPTS_LABEL = {
    "normal": "📖 <i>From the course (excerpts):</i>",
    "sports": "🏟️ <i>Straight from the course playbook (excerpts):</i>",
    "cooking": "🍳 <i>From the course cookbook (excerpts):</i>",
    "adventure": "🧭 <i>From the course map (excerpts):</i>",
}
LLM_FALLBACK_NOTE = (
    "<i>(The AI tutor didn't answer this time, so here are the most relevant passages of the "
    "course instead.)</i>"
)
SOURCES_HEADER = "📚 <b>Sources</b>"
QUOTA_LEFT = "<i>{left} of {quota} typed questions left in Module {module}.</i>"
QUOTA_EXHAUSTED = (
    "You've used all {quota} typed questions for <b>Module {module}: {title}</b>.\n"
    "Suggested questions are always free — tap one below."
)
QUOTA_EXHAUSTED_NO_SUGGESTIONS = (
    "You've used all {quota} typed questions for <b>Module {module}: {title}</b>. "
    "You'll get new ones with the next module's journeys."
)
QUOTA_STATUS = (
    "<b>{course}</b> · Module {module}: {title}\n"
    "Typed questions left: <b>{left}</b> of {quota}.\n"
    "Tapping a suggested question is always free."
)
NEW_SESSION = (
    "🧹 Fresh start: I've set aside our conversation about <b>{topic}</b>. Ask me anything."
)
SUGGESTION_GONE = "That suggestion is no longer available."
ASK_FAILED = "Sorry, something went wrong while answering. Your question wasn't counted."
VOTE_UP = "👍 Helpful"
VOTE_DOWN = "👎 Not helpful"
VOTE_CHOSEN = "✔ "
VOTE_THANKS = {True: "Thanks! Glad it helped.",
               False: "Thanks — your tutors will see this one and can improve the material."}
VOTE_SAME = "You've already said so. Tap the other button to change your vote."
VOTE_REFUSED = "You can only rate answers to your own questions."
DOWNVOTED_USAGE = "Usage: <code>/downvoted &lt;course&gt;</code> — the course's 👎 answers."
DOWNVOTED_NONE = "No down-voted answers in <b>{title}</b>. 🎉"
PERSONA_LABELS = {
    "normal": "📘 Plain",
    "sports": "🏟️ Sports",
    "cooking": "🍳 Cooking",
    "adventure": "🧭 Adventure",
}
PROFILE_LABELS = {
    "non_it_migrant": "🌱 New to IT",
    "rote_memorizer": "🧠 Tell me why",
    "english_hesitant": "🔤 Simple English",
    "last_minute_panic": "⏱️ Short on time",
    "pseudo_coder": "💻 Precise code",
}
PERSONA_MENU = (
    "<b>Your style for {course}</b>\n"
    "Style: <b>{persona}</b> — journeys use matching examples where the course has them, and "
    "answers borrow its analogies.\n"
    "About you: <b>{profile}</b> — shapes how answers are explained.\n"
    "Tap to change:"
)
PERSONA_SET = "Style for <b>{course}</b> set to <b>{label}</b>."
PROFILE_SET = "Got it — answers in <b>{course}</b> will suit: <b>{label}</b>."
PROFILE_CLEARED = "Profile cleared for <b>{course}</b>."
PERSONA_UNAVAILABLE = "That choice isn't available for this course."


def answer_messages(
    text_blocks: list[str], *, mode: str, persona: str, note: bool,
    sources: list[tuple[int, str, int]], quota_line: str | None,
) -> list[str]:
    """An answer as Telegram messages (≤ 4096 chars each): label, body, sources, quota."""
    head = []
    if mode == "extractive":
        head.append(EXCERPTS_LABEL.get(persona, EXCERPTS_LABEL["normal"]))
        if note:
            head.append(LLM_FALLBACK_NOTE)
    tail = []
    if sources:
        tail.append(SOURCES_HEADER + "\n" + "\n".join(
            f"[{n}] {esc(title)} (module {module})" for n, title, module in sources))
    if quota_line:
        tail.append(quota_line)
    return pack([*(["\n".join(head)] if head else []), *text_blocks, *tail])


# Privacy self-service
MY_DATA_CAPTION = ("Everything I keep about you: profile, enrollments, progress, quiz answers, "
                   "questions and group answers. /delete_me erases it.")
DELETE_ME_CONFIRM = (
    "This erases your profile, enrollments, progress, XP, quiz answers and questions, and I "
    "will stop writing to you. It can't be undone. Your cohort's roster keeps your e-mail "
    "(your tutors manage it), without a link to you.\n\nErase everything?")
DELETE_ME_YES = "Yes, erase everything"
DELETE_ME_NO = "No, keep it"
DELETED = ("Done: everything about you is erased and I won't write to you again. If you ever "
           "send me a message, we start fresh.")
DELETE_KEPT = "Nothing was erased."


# --- feedback on answers -----------------------------------------------------------------------

def helpfulness_block(rows: list, questions: list, *, per_course: bool) -> str:
    """/stats: 👍 share of rated answers per course, and the most down-voted questions."""
    out = ["<b>Answers</b> (rated helpful)"]
    if not rows:
        out.append("No questions answered yet.")
    for h in rows:
        rate = f"{h.rate}%" if h.rate is not None else "no votes yet"
        name = f"{esc(h.title)}: " if per_course else ""
        out.append(f"{name}{h.answers} answer{plural(h.answers)}, {h.votes} vote"
                   f"{plural(h.votes)} — {rate} helpful (👍 {h.up} · 👎 {h.down})")
    if questions:
        out += ["", "<b>Most down-voted questions</b>"]
        for q in questions:
            where = f" <code>{esc(q.course_slug)}</code>" if per_course else ""
            out.append(f"👎 {q.down}{where} — {esc(snippet(q.question, 120))}")
    return "\n".join(out)


def downvoted_list(title: str, answers: list) -> str:
    out = [f"👎 <b>Down-voted answers in {esc(title)}</b> (latest first)"]
    for a in answers:
        cited = ", ".join(dict.fromkeys(a.cited)) or "nothing cited"
        found = ", ".join(dict.fromkeys(a.retrieved)) or "nothing close enough"
        mode = {"llm": "AI", "extractive": "excerpts", "unknown": "\"don't know\""}.get(
            a.mode, a.mode)
        out.append(
            f"\n<b>Q:</b> {esc(snippet(a.question, 200))}\n"
            f"<b>A</b> ({mode}): {esc(snippet(a.answer, 300))}\n"
            f"<i>Cited: {esc(cited)}. Retrieved: {esc(found)}.</i>")
    return "\n".join(out)
