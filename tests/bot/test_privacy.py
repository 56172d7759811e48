"""Privacy self-service through the real dispatcher: /my_data is the learner's own data as a
file; /delete_me, confirmed, leaves no row naming them and no later message goes to them."""

from __future__ import annotations

import json
from datetime import timedelta

import asyncpg

from bot.workers.delivery import DeliveryWorker
from storage import privacy
from tests.bot.cohort_helpers import GROUP, bot_posts, group_say, invite_codes, last_text, rig
from tests.helpers import DEMO, import_path
from tests.support.harness import ADMIN, Harness

ADA, BOB, TUTOR = 9101, 9102, 9103


async def _busy_learner(h: Harness) -> None:
    """Ada enrolls, takes and finishes a journey, asks a question, joins a cohort and answers a
    cold call in its group; Bob does less, so we can see his data stays his."""
    await import_path(h.pool, DEMO)
    await h.say(ADMIN, "/cohort_new sql-basics spring")
    await h.say(ADMIN, f"/grant tutor {TUTOR} sql-basics")
    await h.say(ADMIN, "/cohort_add spring ada@example.com bob@example.com")
    report = last_text(h, ADMIN)  # one "email — link" line per member, in no fixed order
    code_of = {line.split(" — ")[0]: invite_codes(line)[0]
               for line in report.splitlines() if invite_codes(line)}
    ada_code, bob_code = code_of["ada@example.com"], code_of["bob@example.com"]
    await group_say(h, ADMIN, "/link spring")
    for uid, code in ((ADA, ada_code), (BOB, bob_code)):
        await h.say(uid, f"/start join_{code}")
    await h.say(ADA, "/today")
    card = [m for m in h.emu.messages_to(ADA) if m.buttons][-1]
    await h.press(ADA, card, "Done")
    await h.say(ADA, "What does SELECT return?")
    await h.say(TUTOR, "/coldcall spring 1.1")
    post = bot_posts(h, GROUP)[-1]
    await group_say(h, ADA, "A row is one record of a table.", reply_to=post.message_id)


async def test_my_data_is_a_file_of_ones_own_data(pool: asyncpg.Pool) -> None:
    async with rig(pool) as h:
        await _busy_learner(h)
        await h.say(ADA, "/my_data")
        doc = h.emu.messages_to(ADA)[-1]
        assert doc.method == "sendDocument" and doc.filename == "my-learnbot-data.json"
        data = json.loads(doc.document or b"{}")
        assert [u["telegram_id"] for u in data["users"]] == [ADA]
        assert {"enrollments", "course_users", "journey_deliveries", "topic_progress",
                "cp_rag_chat_messages", "cold_call_messages", "cohort_members"} <= set(data)
        assert any("What does SELECT return?" in m["content"]
                   for m in data["cp_rag_chat_messages"]), data["cp_rag_chat_messages"]
        assert [m["body"] for m in data["cold_call_messages"]] == [
            "A row is one record of a table."]
        assert [m["email"] for m in data["cohort_members"]] == ["ada@example.com"]
        blob = doc.document.decode()
        assert "bob@example.com" not in blob and f'"telegram_id": {BOB}' not in blob
        # in a group it is refused without a word of data
        await group_say(h, ADA, "/my_data")
        assert all(m.method == "sendMessage" for m in h.emu.messages_to(GROUP))


async def test_delete_me_erases_everything_and_the_bot_forgets(pool: asyncpg.Pool) -> None:
    async with rig(pool) as h:
        await _busy_learner(h)
        async with pool.acquire() as conn:
            ada = await conn.fetchval("SELECT id FROM users WHERE telegram_id = $1", ADA)
            bob_before = await privacy.export_user(
                conn, await conn.fetchval("SELECT id FROM users WHERE telegram_id = $1", BOB))
        await h.say(ADA, "/delete_me")
        ask = h.emu.messages_to(ADA)[-1]
        assert "can't be undone" in (ask.plain_text or "")
        await h.press(BOB, ask, "Yes, erase")  # someone else's button erases nobody
        await h.press(ADA, ask, "No, keep")
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM users WHERE id = $1", ada) == 1
        await h.say(ADA, "/delete_me")
        await h.press(ADA, h.emu.messages_to(ADA)[-1], "Yes, erase")
        assert "everything about you is erased" in last_text(h, ADA)

        async with pool.acquire() as conn:
            for table, column, target in await privacy.references(conn):
                if target == "users":
                    n = await conn.fetchval(
                        f'SELECT count(*) FROM {table} WHERE "{column}" = $1', ada)
                    assert n == 0, (table, column)
            assert await conn.fetchval("SELECT count(*) FROM users WHERE telegram_id = $1",
                                       ADA) == 0
            # Ada's roster seat survives for the tutors, but her old invite link is dead
            seat = await conn.fetchrow(
                "SELECT user_id, invite_code FROM cohort_members WHERE email = 'ada@example.com'")
            assert seat["user_id"] is None
            bob_after = await privacy.export_user(
                conn, await conn.fetchval("SELECT id FROM users WHERE telegram_id = $1", BOB))
        assert bob_after["enrollments"] == bob_before["enrollments"]

        sent_to_ada, sent_to_bob = len(h.emu.messages_to(ADA)), len(h.emu.messages_to(BOB))
        worker = DeliveryWorker(pool, h.bot, h.dp["sender"], h.settings, clock=h.clock)
        for _ in range(3):  # three days of deliveries: Bob gets his cards, Ada nothing
            h.clock.now += timedelta(days=1)
            await worker.run_once()
        assert len(h.emu.messages_to(ADA)) == sent_to_ada
        assert len(h.emu.messages_to(BOB)) > sent_to_bob
