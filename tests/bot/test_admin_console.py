"""The admin console through the real Dispatcher and Bot: /stats (text + PNG), /export (CSV),
/page, /quota, /grant and /revoke. Broadcasts have their own module."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import asyncpg
from PIL import Image

from tests.bot.cohort_helpers import NOW, fingerprint, last_text, private_say, rig
from tests.helpers import DEMO, import_path
from tests.support.harness import ADMIN, Harness

L1, L2, L3, L4, L5 = 9001, 9002, 9003, 9004, 9005


async def _seed_learners(h: Harness) -> None:
    """Five learners of the demo course (3 modules x 4 topics) with known histories.

    L1 finished the course; L2 finished module 1 and struggles with 2.1; L3 did 1.1 twice;
    L4 paused 20 days ago; L5 enrolled 40 days ago and never came back."""
    report = await import_path(h.pool, DEMO)
    course = report.course_id
    days = lambda n: NOW - timedelta(days=n)  # noqa: E731
    async with h.pool.acquire() as conn:
        topics = {(r["module_no"], r["topic_number"]): r["id"] for r in await conn.fetch(
            "SELECT id, module_no, topic_number FROM topics WHERE course_id = $1", course)}
        ids = {}
        for tid, name, status, enrolled in (
            (L1, "=cmd|' /C calc'!A0", "completed", days(30)), (L2, "Bea", "active", days(30)),
            (L3, "Cy", "active", days(25)), (L4, "Di", "paused", days(60)),
            (L5, "Ed", "active", days(40)),
        ):
            uid = await conn.fetchval(
                "INSERT INTO users (telegram_id, display_name, username) VALUES ($1, $2, $3) "
                "RETURNING id", tid, name, f"user{tid}")
            ids[tid] = uid
            await conn.execute(
                "INSERT INTO enrollments (user_id, course_id, status, enrolled_at, completed_at) "
                "VALUES ($1, $2, $3::enrollment_status, $4, $5)",
                uid, course, status, enrolled, days(2) if status == "completed" else None)

        async def progress(tid: int, key: tuple[int, int], done: bool, attempts: int,
                           seconds: int) -> None:
            await conn.execute(
                """
                INSERT INTO topic_progress (user_id, course_id, topic_id, is_completed,
                    completed_at, attempts, time_spent_seconds, first_started_at,
                    last_accessed_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
                """,
                ids[tid], course, topics[key], done, days(3) if done else None, attempts,
                seconds, days(10))

        for key in topics:
            await progress(L1, key, True, 1, 120)
        for n in range(1, 5):
            await progress(L2, (1, n), True, 1, 300)
        await progress(L2, (2, 1), False, 3, 0)
        await progress(L3, (1, 1), True, 2, 600)

        events = [(L1, 1), (L2, 2), (L3, 3), (L3, 20), (L4, 20)]
        for tid, ago in events:
            await conn.execute(
                "INSERT INTO learner_activity_events (user_id, course_id, event_type, created_at)"
                " VALUES ($1, $2, 'journey.done', $3)", ids[tid], course, days(ago))


async def test_stats_text_and_png(pool: asyncpg.Pool) -> None:
    async with rig(pool) as h:
        await _seed_learners(h)
        await h.say(ADMIN, "/stats sql-basics")
        text_msg, photo = h.emu.messages_to(ADMIN)[-2:]
        text = text_msg.plain_text or ""
        assert "Enrolled: 5 (3 active, 1 paused, 1 completed)" in text
        assert "Completion rate: 20%" in text
        assert "Active learners: 3 (7 days) · 4 (30 days)" in text
        assert "Module 1: Asking questions of a table — 3 → 2" in text
        assert "Module 2: Summaries and joins — 2 → 1" in text
        assert "Module 3: Changing data safely — 1 → 1" in text
        hard = text.split("Difficult topics")[1].splitlines()
        assert hard[1].startswith("2.1 Aggregate functions — 2 attempts, 2 min, 50% of 2")
        assert hard[2].startswith("1.1 Tables, rows and SELECT — 1.3 attempts, 5.7 min, 100% of 3")
        assert "Dropout (idle 14+ days, not finished): 2 of 4 (50%)" in text
        assert "2 stopped before their first journey" in text

        assert photo.method == "sendPhoto" and photo.photo
        image = Image.open(io.BytesIO(photo.photo))
        assert image.format == "PNG" and image.width > 400 and image.height > 200

        await h.say(ADMIN, "/stats")
        overview, chart = h.emu.messages_to(ADMIN)[-2:]
        assert ("SQL from Zero (sql-basics): 5 enrolled · active 3 (7 d) / 4 (30 d) · "
                "1 completed (20%)") in (overview.plain_text or "")
        assert Image.open(io.BytesIO(chart.photo or b"")).format == "PNG"
        await h.say(ADMIN, "/stats nope")
        assert "couldn't find a course called “nope”" in last_text(h, ADMIN)


async def test_export_is_a_csv_of_learner_progress(pool: asyncpg.Pool) -> None:
    async with rig(pool) as h:
        await _seed_learners(h)
        await h.say(ADMIN, "/export sql-basics")
        doc = h.emu.messages_to(ADMIN)[-1]
        assert doc.method == "sendDocument" and doc.filename == "sql-basics-progress.csv"
        assert "5 learners" in (doc.plain_text or "")
        rows = list(csv.DictReader(io.StringIO((doc.document or b"").decode("utf-8-sig"))))
        by_id = {int(r["telegram_id"]): r for r in rows}
        assert set(by_id) == {L1, L2, L3, L4, L5}
        assert (by_id[L1]["journeys_done"], by_id[L1]["percent"], by_id[L1]["status"]) == (
            "12", "100", "completed")
        assert (by_id[L2]["journeys_done"], by_id[L2]["journeys_total"], by_id[L2]["percent"]) \
            == ("4", "12", "33")
        assert by_id[L3]["minutes_spent"] == "10" and by_id[L5]["last_activity_at"] == ""
        # a name that a spreadsheet would run as a formula is defused
        assert by_id[L1]["name"].startswith("'=")
        await h.say(ADMIN, "/export")
        assert "Usage" in last_text(h, ADMIN)


async def test_pages_and_quota(pool: asyncpg.Pool) -> None:
    async with rig(pool) as h:
        await import_path(pool, DEMO)
        await h.say(ADMIN, "/page help")
        assert "slugs: welcome, help, about" in h.emu.messages_to(ADMIN)[-2].plain_text
        assert "What I can do" in last_text(h, ADMIN)  # the current text, shown as a reminder
        # the admin's formatting is kept, and their text can't break the HTML
        await private_say(h, ADMIN, "/page help Ask your tutor & write <to> us", entities=[
            {"type": "bot_command", "offset": 0, "length": 5},
            {"type": "bold", "offset": 11, "length": 14}])
        assert "Page help updated" in h.emu.messages_to(ADMIN)[-2].plain_text
        await h.say(7001, "/help")
        shown = h.emu.messages_to(7001)[-1]
        assert shown.text == "<b>Ask your tutor</b> &amp; write &lt;to&gt; us"
        assert shown.plain_text == "Ask your tutor & write <to> us"
        await h.say(ADMIN, "/page welcome Hello {name}, welcome aboard!")
        await h.say(7002, "/start")
        assert "Hello U7002, welcome aboard!" in h.emu.messages_to(7002)[0].plain_text
        await h.say(ADMIN, "/page faq Something")
        assert "There is no page “faq”" in last_text(h, ADMIN)

        await h.say(ADMIN, "/quota sql-basics 3")
        assert "SQL from Zero: 3 typed questions per module (was 10)" in last_text(h, ADMIN)
        for bad in ("/quota sql-basics -1", "/quota sql-basics lots", "/quota sql-basics"):
            await h.say(ADMIN, bad)
            assert "Usage" in last_text(h, ADMIN)
        await h.say(ADMIN, "/quota nope 3")
        assert "couldn't find a course" in last_text(h, ADMIN)
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT prompt_quota FROM courses") == 3
            assert await conn.fetchval(
                "SELECT updated_by IS NOT NULL FROM page_content WHERE slug = 'help'")


async def test_grant_and_revoke(pool: asyncpg.Pool) -> None:
    async with rig(pool) as h:
        await import_path(pool, DEMO)
        await private_say(h, 7001, "/start", username="Zoe_T")
        await h.say(ADMIN, "/grant admin @zoe_t")
        assert "is now an admin" in last_text(h, ADMIN)
        admin_menu = h.emu.get_commands({"type": "chat", "chat_id": 7001})
        assert {"stats", "broadcast", "coldcall"} <= {c["command"] for c in admin_menu}
        # the new admin's rights work at once
        await private_say(h, 7001, "/quota sql-basics 4", username="Zoe_T")
        assert "4 typed questions" in last_text(h, 7001)
        await private_say(h, 7001, "/revoke admin @zoe_t", username="Zoe_T")
        assert "can't revoke your own" in last_text(h, 7001)
        await private_say(h, 7001, f"/revoke admin {ADMIN}", username="Zoe_T")
        assert "ADMIN_TELEGRAM_IDS" in last_text(h, 7001)
        await h.say(ADMIN, "/grant tutor @zoe_t sql-basics")
        await h.say(ADMIN, "/revoke admin @Zoe_T")
        assert "is no longer an admin" in last_text(h, ADMIN)
        tutor_menu = {c["command"] for c in h.emu.get_commands({"type": "chat", "chat_id": 7001})}
        assert "coldcall" in tutor_menu and "stats" not in tutor_menu
        await private_say(h, 7001, "/quota sql-basics 5", username="Zoe_T")
        assert "only admins" in last_text(h, 7001)
        await h.say(ADMIN, "/revoke tutor @zoe_t")
        assert "no longer tutors any course" in last_text(h, ADMIN)
        assert h.emu.get_commands({"type": "chat", "chat_id": 7001}) == []
        for bad, reply in (("/grant", "Usage"), ("/grant king @zoe_t", "Usage"),
                           ("/grant tutor @zoe_t", "Usage"), ("/grant admin @nobody", "don't know"),
                           ("/grant tutor @zoe_t nope", "couldn't find a course"),
                           ("/revoke tutor @zoe_t", "doesn't tutor any course")):
            await h.say(ADMIN, bad)
            assert reply in last_text(h, ADMIN), bad
        async with pool.acquire() as conn:
            assert await conn.fetchval(
                "SELECT role::text FROM users WHERE telegram_id = 7001") == "learner"
            assert await conn.fetchval("SELECT count(*) FROM course_tutors WHERE NOT is_active") \
                == 1


async def test_grant_refuses_usernames_that_name_nobody_for_sure(pool: asyncpg.Pool) -> None:
    """Telegram usernames change hands: a username two people used, or one whose owner we
    haven't heard from for a month, grants nothing until given as a numeric id."""
    async with rig(pool) as h:
        await private_say(h, 7101, "/start", username="sam")
        await private_say(h, 7102, "/start", username="Sam")  # @sam changed hands
        await private_say(h, 7103, "/start", username="old_kim")
        await h.say(ADMIN, "/help")
        async with pool.acquire() as conn:
            await conn.execute("UPDATE users SET last_seen_at = $1::timestamptz - interval "
                               "'31 days' WHERE telegram_id = 7103", NOW)
            before = await fingerprint(conn)
        await h.say(ADMIN, "/grant admin @sam")
        assert "More than one person has used @sam" in last_text(h, ADMIN)
        await h.say(ADMIN, "/revoke admin @SAM")
        assert "numeric Telegram id" in last_text(h, ADMIN)
        await h.say(ADMIN, "/grant admin @old_kim")
        assert "haven't heard from @old_kim for over 30 days" in last_text(h, ADMIN)
        async with pool.acquire() as conn:
            assert await fingerprint(conn) == before
        await h.say(ADMIN, "/grant admin 7102")
        assert "is now an admin" in last_text(h, ADMIN)
        await private_say(h, 7103, "/help", username="old_kim")  # back: the name is theirs
        await h.say(ADMIN, "/grant admin @old_kim")
        assert "is now an admin" in last_text(h, ADMIN)
