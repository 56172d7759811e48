"""Cohorts and cold calls through the real Dispatcher and Bot, with a forum supergroup on the
Bot API emulator: what people see in the group and in private, and the rows behind it."""

from __future__ import annotations

import asyncio

import asyncpg

from bot.workers.sender import RateLimitedSender
from tests.bot.cohort_helpers import (
    ADA,
    BOB,
    CAROL,
    EVE,
    FIRST_PROMPT,
    GROUP,
    SECOND_PROMPT,
    THREAD,
    TUTOR,
    bot_posts,
    cohort_with_members,
    group_say,
    invite_codes,
    last_text,
    react,
    rig,
)
from tests.support.harness import ADMIN


async def test_cohort_setup_invites_and_projects(pool: asyncpg.Pool) -> None:
    async with rig(pool) as h:
        codes = await cohort_with_members(h)
        await h.say(EVE, f"/start join_{codes[ADA]}")  # a forwarded link can't move a seat
        assert "already been used by someone else" in last_text(h, EVE)
        await h.say(ADA, f"/start join_{codes[ADA]}")
        assert "already in cohort spring" in last_text(h, ADA)
        await h.say(EVE, "/start join_" + "0" * 32)
        assert "isn't valid" in last_text(h, EVE)

        await h.say(TUTOR, "/project spring 2 Library dashboard https://example.com/p2")
        assert "project “Library dashboard” is set" in last_text(h, TUTOR)
        await h.say(TUTOR, "/project spring 1 Other https://example.com/p1")
        await h.say(TUTOR, "/project spring 2 Broken ftp://example.com")
        assert "must start with http" in last_text(h, TUTOR)
        await h.say(ADA, "/progress")
        progress = last_text(h, ADA)
        assert "Your cohort projects" in progress and "Library dashboard" in progress
        assert "Other" not in progress  # batch 1's project is not Ada's
        await h.say(EVE, "/progress")
        assert "cohort projects" not in last_text(h, EVE)

        # re-adding an email updates it in place and keeps the bound user
        await h.say(TUTOR, "/cohort_add spring batch=1 ada@example.com dan@example.com")
        assert "1 added, 1 updated" in last_text(h, TUTOR)
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT m.email, m.batch_no, m.status::text, u.telegram_id FROM cohort_members m "
                "LEFT JOIN users u ON u.id = m.user_id ORDER BY m.email")
            enrolled = await conn.fetchval(
                "SELECT count(*) FROM enrollments e JOIN users u ON u.id = e.user_id "
                "WHERE u.telegram_id = ANY($1::bigint[])", [ADA, BOB, CAROL])
            link = await conn.fetchrow("SELECT telegram_chat_id, telegram_thread_id FROM cohorts")
            role = await conn.fetchval("SELECT role::text FROM users WHERE telegram_id=$1", TUTOR)
        assert [(r["email"], r["batch_no"], r["telegram_id"]) for r in rows] == [
            ("ada@example.com", 1, ADA), ("bob@example.com", 2, BOB),
            ("carol@example.com", 2, CAROL), ("dan@example.com", 1, None)]
        assert enrolled == 3  # joining enrolls in the cohort's course
        assert (link["telegram_chat_id"], link["telegram_thread_id"]) == (GROUP, THREAD)
        assert role == "tutor"

        # members from a CSV file: header, batch and status columns, one bad row
        csv_data = (b"Email;Batch;Status\nerin@example.com;3;invited\nfrank@example.com;x;\n"
                    b"gina@example.com;;\n")
        msg = h.emu.push_document(TUTOR, "members.csv", csv_data, caption="/cohort_add spring")
        await h.feed({"update_id": h._next(), "message": msg})
        report = last_text(h, TUTOR)
        assert "2 added" in report and "line 3: batch must be a number" in report
        assert len(invite_codes(report)) == 2
        async with pool.acquire() as conn:
            erin = await conn.fetchrow(
                "SELECT batch_no, status::text FROM cohort_members WHERE email='erin@example.com'")
        assert (erin["batch_no"], erin["status"]) == (3, "invited")


async def test_cold_call_threads_stars_and_top(pool: asyncpg.Pool) -> None:
    async with rig(pool) as h:
        await cohort_with_members(h)
        await group_say(h, TUTOR, "/coldcall 1.1", thread_id=THREAD, name="Tess")
        post = bot_posts(h)[-1]
        assert FIRST_PROMPT in (post.plain_text or "") and post.thread_id == THREAD

        pid = post.message_id
        a = await group_say(h, ADA, "A row is one book; a column is one attribute like title.",
                            reply_to=pid, thread_id=THREAD, name="Ada")
        b = await group_say(h, BOB, "Columns are fields.", reply_to=pid, thread_id=THREAD,
                            name="Bob")
        c = await group_say(h, CAROL, "Rows are records, columns are properties.", reply_to=pid,
                            thread_id=THREAD, name="Carol")
        d = await group_say(h, BOB, "Agree with Ada, and title is a column.",
                            reply_to=a["message_id"], thread_id=THREAD, name="Bob")
        e = await group_say(h, CAROL, "And each book is a row.", reply_to=d["message_id"],
                            thread_id=THREAD, name="Carol")
        t = await group_say(h, TUTOR, "Exactly right, Ada.", reply_to=a["message_id"],
                            thread_id=THREAD, name="Tess")
        await group_say(h, EVE, "Me too!", reply_to=pid, thread_id=THREAD, name="Eve")
        await group_say(h, ADA, "unrelated chatter", thread_id=THREAD, name="Ada")
        assert "not a member of cohort" in last_text(h, EVE)  # told privately how to join

        # stars: /star toggles, reactions set, own answers can't be starred
        await group_say(h, TUTOR, "/star", reply_to=a["message_id"], thread_id=THREAD)
        assert "Starred — 1 star now" in last_text(h, GROUP)
        await group_say(h, CAROL, "/star", reply_to=a["message_id"], thread_id=THREAD)
        assert "Starred — 2 stars now" in last_text(h, GROUP)
        await group_say(h, ADA, "/star", reply_to=a["message_id"], thread_id=THREAD)
        assert "can't star your own" in last_text(h, GROUP)
        await group_say(h, BOB, "/star", reply_to=c["message_id"], thread_id=THREAD)
        await group_say(h, BOB, "/star", reply_to=c["message_id"], thread_id=THREAD)
        assert "Star removed — 0 stars now" in last_text(h, GROUP)
        await react(h, TUTOR, c["message_id"], ["👍"])
        await react(h, TUTOR, c["message_id"], ["👍", "🔥"], old=["👍"])  # still one star
        await react(h, ADA, b["message_id"], ["👍"], name="Ada")
        await react(h, ADA, b["message_id"], [], old=["👍"], name="Ada")  # taken back
        await react(h, EVE, c["message_id"], ["👍"])  # not a member: ignored
        await group_say(h, EVE, "/star", reply_to=c["message_id"], thread_id=THREAD)
        await group_say(h, BOB, "/star", reply_to=pid, thread_id=THREAD)
        assert "isn't a cold-call answer" in last_text(h, GROUP)

        await group_say(h, CAROL, "/top@learnbot_test_bot", thread_id=THREAD)
        top = last_text(h, GROUP)
        assert top.index("⭐2 Ada") < top.index("⭐1 Carol")
        assert "Bob" not in top and "Tess" not in top  # unstarred, and tutors aren't answers

        async with pool.acquire() as conn:
            rows = {r["telegram_message_id"]: r for r in await conn.fetch(
                """
                SELECT m.telegram_message_id, m.parent_id, m.root_id, m.is_tutor_reply, m.body,
                       m.id, u.telegram_id,
                       (SELECT count(*) FROM cold_call_stars s WHERE s.message_id = m.id) AS stars
                FROM cold_call_messages m JOIN users u ON u.id = m.user_id
                """)}
            events = await conn.fetch(
                "SELECT e.topic_id, t.title FROM learner_activity_events e "
                "JOIN topics t ON t.id = e.topic_id WHERE e.event_type = 'cold_call.reply'")
        assert set(rows) == {a["message_id"], b["message_id"], c["message_id"],
                             d["message_id"], e["message_id"], t["message_id"]}
        ra, rd = rows[a["message_id"]], rows[d["message_id"]]
        assert ra["parent_id"] is None and ra["root_id"] is None
        assert (rd["parent_id"], rd["root_id"]) == (ra["id"], ra["id"])
        re_ = rows[e["message_id"]]
        assert (re_["parent_id"], re_["root_id"]) == (rd["id"], ra["id"])  # reply to a reply
        rt = rows[t["message_id"]]
        assert rt["is_tutor_reply"] and rt["parent_id"] == ra["id"]
        assert not any(r["is_tutor_reply"] for k, r in rows.items() if k != t["message_id"])
        assert {k: r["stars"] for k, r in rows.items() if r["stars"]} == {
            a["message_id"]: 2, c["message_id"]: 1}
        assert len(events) == 5 and {r["title"] for r in events} == {"Tables, rows and SELECT"}

        # the next cold call on the topic is its next prompt; then it starts over
        await h.say(TUTOR, "/coldcall spring rows and SELECT")
        assert "Posted prompt 2 of 2" in last_text(h, TUTOR)
        assert SECOND_PROMPT in (bot_posts(h)[-1].plain_text or "")
        await group_say(h, TUTOR, "/coldcall tables-rows-and-select", thread_id=THREAD)
        assert FIRST_PROMPT in (bot_posts(h)[-1].plain_text or "")
        await group_say(h, ADA, "/top", thread_id=THREAD)
        assert "No starred answers yet (0 answers so far)" in last_text(h, GROUP)


async def test_cold_call_input_problems(pool: asyncpg.Pool) -> None:
    async with rig(pool) as h:
        await cohort_with_members(h)
        await h.say(TUTOR, "/coldcall spring")
        assert "Usage" in last_text(h, TUTOR)
        await h.say(TUTOR, "/coldcall spring 9.9")
        assert "No topic of <b>SQL from Zero</b>" not in last_text(h, TUTOR)
        assert "No topic of SQL from Zero matches “9.9”" in last_text(h, TUTOR)
        await h.say(TUTOR, "/coldcall spring rows")
        assert "matches several topics" in last_text(h, TUTOR)
        await h.say(TUTOR, "/coldcall nosuch 1.1")
        assert "couldn't find a cohort called “nosuch”" in last_text(h, TUTOR)
        await h.say(TUTOR, "/coldcall")
        assert "Usage" in last_text(h, TUTOR)
        h.emu.block_chat(GROUP)  # the bot was removed from the group
        await h.say(TUTOR, "/coldcall spring 1.1")
        assert "couldn't post to the group" in last_text(h, TUTOR)
        h.emu.unblock_chat(GROUP)
        await h.say(TUTOR, "/coldcall spring 1.1")  # the failed post didn't use up prompt 1
        assert "Posted prompt 1 of 2" in last_text(h, TUTOR)
        await group_say(h, ADA, "/coldcall 1.1", chat_id=-1009999)  # an unlinked group
        assert last_text(h, -1009999) == ""  # says nothing to a learner there
        await group_say(h, ADMIN, "/coldcall 1.1", chat_id=-1009999)
        assert "isn't linked to a cohort" in last_text(h, -1009999)
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM cold_call_posts") == 1


class FakeTime:
    """The sender's clock and sleep: waits pass instantly but are measured."""

    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


async def test_group_limit_holds_back_the_third_post_in_a_minute(pool: asyncpg.Pool) -> None:
    async with rig(pool) as h:
        await cohort_with_members(h)
        fake = FakeTime()
        h.dp["sender"] = RateLimitedSender(rate_per_second=25, chat_interval=0,
                                           group_per_minute=2, clock=fake.clock,
                                           sleep=fake.sleep)
        posted_at = []
        for _ in range(3):
            await h.say(TUTOR, "/coldcall spring 1.1")
            assert "Posted prompt" in last_text(h, TUTOR)
            posted_at.append(fake.now)
        assert posted_at[1] - posted_at[0] < 1
        assert posted_at[2] - posted_at[0] >= 60  # the group's 20/min budget, here 2/min
        assert len(bot_posts(h)) == 4  # the /link confirmation and three cold calls


async def test_edited_answer_is_updated(pool: asyncpg.Pool) -> None:
    async with rig(pool) as h:
        await cohort_with_members(h)
        await h.say(TUTOR, "/coldcall spring 1.1")
        post = bot_posts(h)[-1]
        answer = await group_say(h, ADA, "A row is a column", reply_to=post.message_id)
        edited = {**answer, "text": "A row is one record", "edit_date": answer["date"] + 5}
        await h.feed({"update_id": h._next(), "edited_message": edited})
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT body FROM cold_call_messages") == \
                "A row is one record"


async def test_outsider_is_told_how_to_join_in_their_own_language(pool: asyncpg.Pool) -> None:
    """The group speaks English, but the private hint goes to one person: in theirs."""
    async with rig(pool) as h:
        await cohort_with_members(h)
        await h.say(EVE, "/start", language_code="tl")  # Telegram's code for Tagalog
        await group_say(h, TUTOR, "/coldcall 1.1", thread_id=THREAD, name="Tess")
        pid = bot_posts(h)[-1].message_id
        await group_say(h, EVE, "Pwede po ba?", reply_to=pid, thread_id=THREAD, name="Eve")
        hint = last_text(h, EVE)
        assert "spring" in hint and "invite link" in hint
        assert "not a member of cohort" not in hint and "Hindi" in hint, hint


async def test_outsider_is_told_how_to_join_once(pool: asyncpg.Pool) -> None:
    async with rig(pool) as h:
        await cohort_with_members(h)
        await group_say(h, TUTOR, "/coldcall 1.1", thread_id=THREAD, name="Tess")
        pid = bot_posts(h)[-1].message_id
        for text in ("Me too!", "Can I answer?", "Hello?"):
            await group_say(h, EVE, text, reply_to=pid, thread_id=THREAD, name="Eve")
        hints = [t for t in h.texts_to(EVE) if "not a member of cohort" in t]
        assert len(hints) == 1
        async with pool.acquire() as conn:
            assert await conn.fetchval(
                "SELECT count(*) FROM cold_call_messages m JOIN users u ON u.id = m.user_id "
                "WHERE u.telegram_id = $1", EVE) == 0
