"""/broadcast through the real Dispatcher and Bot: confirmation, the rate-limited send with its
live progress message, blocked learners, stopping and cancelling. The kill-and-resume case runs
real processes (tests/e2e/test_broadcast_e2e.py)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import asyncpg

from tests.bot.cohort_helpers import last_text, rig
from tests.helpers import DEMO, ENROLLED_BASE, import_path, max_in_one_second, seed_enrolled
from tests.support.harness import ADMIN, Harness

BASE = ENROLLED_BASE



def received(h: Harness, body: str) -> Counter:
    return Counter(c.params["chat_id"] for c in h.emu.calls("sendMessage")
                   if c.ok and c.params.get("text") == body)


async def test_broadcast_to_1000_learners_obeys_the_rate_and_sends_each_once(
    pool: asyncpg.Pool,
) -> None:
    async with rig(pool, delivery_rate_per_second=50, delivery_chat_interval_seconds=1,
                   broadcast_progress_seconds=3) as h:
        report = await import_path(pool, DEMO)
        await seed_enrolled(pool, report.course_id, 1001)
        async with pool.acquire() as conn:  # one learner blocked us long ago: not an addressee
            await conn.execute("UPDATE users SET is_reachable = false WHERE telegram_id = $1",
                               BASE + 1001)
        blocked = [BASE + 7, BASE + 500, BASE + 999]  # ...and three block us now
        for chat in blocked:
            h.emu.block_chat(chat)

        await h.say(ADMIN, "/broadcast sql-basics Live Q&A tonight at 18:00 — bring questions!")
        preview = h.emu.messages_to(ADMIN)[-1]
        assert "Broadcast to SQL from Zero — 1,000 learners" in (preview.plain_text or "")
        assert "Live Q&amp;A tonight" in (preview.text or "")
        started = time.monotonic()
        await h.press(ADMIN, preview, "Send to 1,000")
        final = await h.emu.wait_for(lambda m: m.chat_id == ADMIN and "done in" in (
            m.plain_text or ""), timeout=120)
        elapsed = final.at - started

        body = "Live Q&amp;A tonight at 18:00 — bring questions!"
        got = received(h, body)
        assert len(got) == 997 and set(got.values()) == {1}  # each exactly once
        assert not set(blocked) & set(got) and BASE + 1001 not in got
        assert elapsed >= 20.0, elapsed  # 1000 sends at 50/s (+ progress edits) can't be faster
        times = sorted(c.at for c in h.emu.calls("sendMessage") if c.params.get("text") == body)
        assert len(times) == 1000  # the three 403s were attempted once each, never retried
        assert max_in_one_second(times) <= 51  # no second in which more than 50 went out

        edits = [m for m in h.emu.messages_to(ADMIN, "editMessageText")
                 if m.message_id == preview.message_id]
        live = [m.plain_text or "" for m in edits if "sending…" in (m.plain_text or "")]
        assert len(live) >= 4 and all("ETA ~" in t and "left" in t for t in live)
        assert "⏳ left 1,000 of 1,000" in live[0]
        assert "✅ sent 997 · ❌ failed 3 of 1,000" in (final.plain_text or "")
        assert final.buttons == []  # the Stop button goes away at the end

        async with pool.acquire() as conn:
            statuses = dict(await conn.fetch(
                "SELECT status::text, count(*) FROM broadcast_recipients GROUP BY 1"))
            unreachable = await conn.fetchval(
                "SELECT count(*) FROM users WHERE NOT is_reachable")
            status = await conn.fetchval("SELECT status FROM broadcasts")
        assert statuses == {"sent": 997, "failed": 3} and status == "done"
        assert unreachable == 4
        print(f"\nbroadcast: 1000 recipients at 50 msg/s took {elapsed:.2f} s "
              f"({1000 / elapsed:.1f} msg/s)")


async def test_cancel_stop_and_double_press(pool: asyncpg.Pool) -> None:
    async with rig(pool, delivery_rate_per_second=20, broadcast_progress_seconds=0.5) as h:
        report = await import_path(pool, DEMO)
        await seed_enrolled(pool, report.course_id, 200)

        await h.say(ADMIN, "/broadcast sql-basics First draft")
        draft = h.emu.messages_to(ADMIN)[-1]
        await h.press(ADMIN, draft, "Cancel")
        assert "cancelled; nothing was sent" in last_text(h, ADMIN)
        await h.press(ADMIN, draft, "Send to")  # an old button of a cancelled draft
        assert "already cancelled" in (h.emu.answered_callbacks[-1].text or "")

        await h.say(ADMIN, "/broadcast sql-basics Second message")
        preview = h.emu.messages_to(ADMIN)[-1]
        await h.press(ADMIN, preview, "Send to")
        await h.press(ADMIN, preview, "Send to")  # a double tap doesn't start it twice
        assert "already started" in (h.emu.answered_callbacks[-1].text or "")
        progress = await h.emu.wait_for(lambda m: m.chat_id == ADMIN and "⏳ left" in (
            m.plain_text or "") and "Stop" in str(m.buttons), timeout=20)
        await h.emu.wait_for_count(30, timeout=20)
        await h.press(ADMIN, progress, "Stop")
        final = await h.emu.wait_for(lambda m: m.chat_id == ADMIN and "stopped" in (
            m.plain_text or ""), timeout=20)
        await h.dp["broadcaster"].wait()
        got = received(h, "Second message")
        assert 0 < len(got) < 200 and set(got.values()) == {1}
        assert f"✅ sent {len(got)} · ❌ failed 0 of 200" in (final.plain_text or "")
        assert f"not sent: {200 - len(got)}" in (final.plain_text or "")
        assert not received(h, "First draft")

        for bad, reply in (("/broadcast", "Usage"), ("/broadcast sql-basics", "Usage"),
                           ("/broadcast nowhere Hi", "neither a course nor a cohort")):
            await h.say(ADMIN, bad)
            assert reply in last_text(h, ADMIN), bad
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM enrollments")
        await h.say(ADMIN, "/broadcast sql-basics Anyone?")
        assert "has no reachable learners" in last_text(h, ADMIN)


async def test_progress_report_speaks_the_admins_language(pool: asyncpg.Pool) -> None:
    """The progress message is edited in the background, and by whichever process carries the
    broadcast on: it still follows the language of the admin who confirmed it."""
    from bot.workers.broadcast import Broadcaster

    async with rig(pool, delivery_rate_per_second=20, broadcast_progress_seconds=0.5) as h:
        report = await import_path(pool, DEMO)
        await seed_enrolled(pool, report.course_id, 40)
        await h.say(ADMIN, "/start")
        async with pool.acquire() as conn:
            await conn.execute("UPDATE users SET locale = 'fil' WHERE telegram_id = $1", ADMIN)
        await h.say(ADMIN, "/broadcast sql-basics Kita-kits mamaya!")
        preview = h.emu.messages_to(ADMIN)[-1]
        await h.press(ADMIN, preview, preview.buttons[0]["text"])  # "send to 40", in Filipino
        await h.dp["broadcaster"].close()  # this process stops; another one carries on
        other = Broadcaster(pool, h.settings, name="other-process")
        assert await other.resume(h.bot, h.dp["sender"])
        final = await h.emu.wait_for(lambda m: m.chat_id == ADMIN and "Tapos na ang broadcast"
                                     in (m.plain_text or ""), timeout=30)
        await other.wait()
        assert "✅ naipadala 40 · ❌ pumalya 0 sa 40" in (final.plain_text or "")
        edits = [m.plain_text or "" for m in h.emu.messages_to(ADMIN, "editMessageText")]
        assert edits and not any("sending…" in t or "done in" in t for t in edits), edits


async def test_a_429_longer_than_the_lease_neither_loses_the_lease_nor_leaves_rows_in_flight(
    pool: asyncpg.Pool,
) -> None:
    """A 6 s 429 pause with a 2 s lease: the lease is renewed on its own timer, so another
    process looking for orphaned broadcasts all along adopts nothing; the refused request's
    row is pending again during the pause (it was never in flight), and in the end everyone
    gets the message once and nothing is "unconfirmed"."""
    from bot.workers.broadcast import Broadcaster

    async with rig(pool, delivery_rate_per_second=50, broadcast_lease_seconds=2,
                   broadcast_progress_seconds=0.5) as h:
        report = await import_path(pool, DEMO)
        await seed_enrolled(pool, report.course_id, 40)
        await h.say(ADMIN, "/broadcast sql-basics Room change: B12")
        preview = h.emu.messages_to(ADMIN)[-1]
        await h.press(ADMIN, preview, "Send to 40")
        h.emu.rate_limit(1, retry_after=6, methods={"sendMessage"})  # a recipient's send
        await h.emu.wait_for_call("sendMessage", lambda c: c.status == 429, timeout=10)
        other = Broadcaster(pool, h.settings, name="other-process")
        adopted, in_flight_during_pause = [], []
        for _ in range(8):  # 4 s of the 6 s pause, longer than the lease twice over
            adopted += await other.resume(h.bot, h.dp["sender"])
            async with pool.acquire() as conn:
                in_flight_during_pause.append(await conn.fetchval(
                    "SELECT count(*) FROM broadcast_recipients WHERE status = 'sending'"))
            await asyncio.sleep(0.5)
        assert adopted == []
        assert in_flight_during_pause[-1] == 0, in_flight_during_pause
        await h.emu.wait_for(lambda m: m.chat_id == ADMIN and "done in" in (
            m.plain_text or ""), timeout=60)
        await h.dp["broadcaster"].wait()
        got = received(h, "Room change: B12")
        assert len(got) == 40 and set(got.values()) == {1}
        async with pool.acquire() as conn:
            states = dict(await conn.fetch(
                "SELECT status::text, count(*) FROM broadcast_recipients GROUP BY 1"))
        assert states == {"sent": 40}
