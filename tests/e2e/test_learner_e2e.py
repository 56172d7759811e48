"""A learner's first day, end to end: the real bot process long-polls the local Bot API
emulator over HTTP on 127.0.0.1; everything is asserted from the emulator's side."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from tests.e2e.helpers import learnbot_env
from tests.helpers import DEMO, import_path
from tests.support.botapi import BotAPIEmulator

LEARNER = 424242


async def test_learner_first_day(
    emu: BotAPIEmulator, spawn, db_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await import_path(pool, DEMO)
    bot = await spawn(["run"], learnbot_env(db_url, emu.url, tmp_path))
    await bot.ready()

    emu.push_message(LEARNER, "/start enroll_sql-basics", first_name="Ada")
    await emu.wait_for("You're enrolled in")
    journey = await emu.wait_for(lambda m: bool(m.buttons) and "Done" in str(m.buttons))
    assert "Tables, rows and SELECT" in (journey.plain_text or "")
    assert journey.chat_id == LEARNER

    # /today again the same day: the same journey, not the next one.
    mark = emu.mark()
    emu.push_message(LEARNER, "/today")
    again = await emu.wait_for("already had today", since=mark)
    assert "Tables, rows and SELECT" in (again.plain_text or "")

    mark = emu.mark()
    emu.push_callback(LEARNER, journey.message_id, journey.button("Done")["callback_data"])
    done = await emu.wait_for("Done:", since=mark)
    assert "Next up: Filtering rows with WHERE" in (done.plain_text or "")
    # a stale second press changes nothing and says so
    emu.push_callback(LEARNER, journey.message_id, journey.button("Done")["callback_data"])

    mark = emu.mark()
    emu.push_message(LEARNER, "/progress")
    progress = await emu.wait_for("journeys)", since=mark)
    assert "(1/12 journeys)" in (progress.plain_text or "")
    assert "Module 1: Asking questions of a table" in (progress.plain_text or "")

    mark = emu.mark()
    emu.push_message(LEARNER, "/timezone Not/AZone")
    bad = await emu.wait_for("isn't a time zone", since=mark)
    assert "Europe/Paris" in (bad.plain_text or "")
    emu.push_message(LEARNER, "/timezone Asia/Tokyo")
    await emu.wait_for("Time zone set to Asia/Tokyo", since=mark)

    mark = emu.mark()
    emu.push_message(LEARNER, "/frobnicate")
    await emu.wait_for("I don't know the command /frobnicate", since=mark)
    emu.push_message(LEARNER, "x" * 3000)
    await emu.wait_for("too long", since=mark)

    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT u.timezone, tp.is_completed, tp.attempts FROM users u "
            "JOIN topic_progress tp ON tp.user_id = u.id WHERE u.telegram_id = $1",
            LEARNER,
        )
        done_events = await conn.fetchval(
            "SELECT count(*) FROM learner_activity_events WHERE event_type = 'journey.done'"
        )
    assert row["timezone"] == "Asia/Tokyo" and row["is_completed"] and row["attempts"] == 1
    assert done_events == 1  # the stale second Done was not counted
    answered = [c for c in emu.answered_callbacks if "Already" in (c.text or "")]
    assert answered, "the repeated Done press should be answered as already done"
