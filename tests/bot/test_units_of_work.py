"""Units of work under pressure, on the real Dispatcher, the emulator over HTTP and a real
PostgreSQL: a pool of 3 connections, an LLM that hangs for a minute, ten questions waiting on
it. Nobody else may notice — and no connection may be held while the bot waits on the LLM or
on the group sender."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta

import asyncpg

from bot.app import build_dispatcher, make_bot
from bot.config import load_settings
from bot.workers.delivery import DeliveryWorker
from storage import pg
from tests.bot.cohort_helpers import GROUP, NOW, group_say, last_text
from tests.helpers import Clock
from tests.support.botapi import BotAPIEmulator
from tests.support.fake_llm import FakeLLM
from tests.support.harness import ADMIN, TOKEN, Harness

ASKERS = list(range(7101, 7111))
OTHER, TUTOR = 7201, 7202
DUE_BASE = 7_300_000


async def until(predicate: Callable[[], bool], within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def all_idle(pool: asyncpg.Pool) -> bool:
    return pool.get_idle_size() == pool.get_size()


async def seed_due(pool: asyncpg.Pool, n: int) -> None:
    async with pool.acquire() as conn:
        course = await conn.fetchval("SELECT id FROM courses WHERE slug = 'sql-basics'")
        await conn.execute(
            """
            WITH u AS (INSERT INTO users (telegram_id, display_name)
                       SELECT $3 + g, 'D' || g FROM generate_series(1, $2) g RETURNING id),
                 cu AS (INSERT INTO course_users (user_id, course_id) SELECT id, $1 FROM u
                        RETURNING id)
            INSERT INTO course_user_schedule (course_user_id, next_due_at)
            SELECT id, $4 FROM cu
            """,
            course, n, DUE_BASE, NOW - timedelta(minutes=5),
        )


async def test_ten_hanging_llm_answers_starve_nobody_on_a_pool_of_three(
    demo_db_url: str, embedder
) -> None:
    pool = await pg.create_pool(demo_db_url, max_size=3)
    try:
        async with BotAPIEmulator() as emu, FakeLLM() as fake:
            fake.delay = 60  # every answer hangs for a minute (let go when the test ends)
            settings = load_settings(
                bot_token=TOKEN, telegram_api_url=emu.url, admin_telegram_ids=[ADMIN],
                flood_messages_per_minute=600, llm_base_url=fake.url, llm_model="fake",
                llm_timeout_seconds=120, llm_max_retries=0, delivery_rate_per_second=500,
                delivery_chat_interval_seconds=0, broadcast_progress_seconds=0.5,
            )
            clock = Clock(NOW)
            bot = make_bot(settings)
            dp = build_dispatcher(settings, pool, clock=clock)
            h = Harness(emu, bot, dp, settings, clock, pool)
            try:
                for uid in [*ASKERS, OTHER]:
                    await h.say(uid, "/start enroll_sql-basics")
                await seed_due(pool, 20)
                asked = [asyncio.create_task(h.say(uid, "how do I sort books by price?"))
                         for uid in ASKERS]
                await until(lambda: len(fake.prompts("answer")) == len(ASKERS))
                # All ten wait on the LLM, and not one of them holds a connection.
                assert all_idle(pool), (pool.get_idle_size(), pool.get_size())

                started = time.monotonic()
                await asyncio.wait_for(h.say(OTHER, "/today"), 2)
                assert "Tables, rows and SELECT" in last_text(h, OTHER)
                print(f"\n/today with 10 answers hanging: {time.monotonic() - started:.3f} s")

                worker = DeliveryWorker(pool, bot, dp["sender"], settings, clock=clock,
                                        name="uow-test")
                report = await asyncio.wait_for(worker.run_once(), 30)
                assert report.sent == 20  # due journeys go out

                await h.say(ADMIN, "/broadcast sql-basics Office hours at five")
                await h.press(ADMIN, h.emu.messages_to(ADMIN)[-1], "Send to")
                await h.emu.wait_for(lambda m: m.chat_id == ADMIN and "done in" in (
                    m.plain_text or ""), timeout=30)
                reached = {c.params["chat_id"] for c in emu.calls("sendMessage")
                           if c.ok and c.params.get("text") == "Office hours at five"}
                assert reached >= {*ASKERS, OTHER}  # the broadcast kept sending
                assert not any(t.done() for t in asked)  # ...while every answer still hung
                assert all_idle(pool)
            finally:
                fake._closing.set()  # the LLM answers now
                await asyncio.gather(*asked, return_exceptions=True)
                await dp["broadcaster"].close()
                await bot.session.close()
        for uid in ASKERS:  # and each of the ten got its answer in the end
            assert any("Sources" in t for t in h.texts_to(uid)), uid
    finally:
        await pool.close()


async def test_a_cold_call_waiting_on_the_group_sender_holds_no_connection(
    pool: asyncpg.Pool,
) -> None:
    from tests.helpers import DEMO, import_path

    async with BotAPIEmulator() as emu:
        settings = load_settings(
            bot_token=TOKEN, telegram_api_url=emu.url, admin_telegram_ids=[ADMIN],
            flood_messages_per_minute=600, delivery_group_per_minute=1,
        )
        bot = make_bot(settings)
        dp = build_dispatcher(settings, pool, clock=Clock(NOW))
        h = Harness(emu, bot, dp, settings, dp["clock"], pool)
        try:
            await import_path(pool, DEMO)
            for command in ("/cohort_new sql-basics spring", f"/grant tutor {TUTOR} sql-basics"):
                await h.say(ADMIN, command)
            await group_say(h, ADMIN, "/link spring")  # the group's one message this minute
            second = asyncio.create_task(h.say(TUTOR, "/coldcall spring 1.1"))

            async def drafted() -> bool:
                async with pool.acquire() as conn:
                    return bool(await conn.fetchval(
                        "SELECT count(*) FROM cold_call_posts WHERE telegram_message_id IS NULL"))

            deadline = time.monotonic() + 30
            while not await drafted():
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
            # The post waits for the group's next free slot (a minute away): no connection
            # is held meanwhile, and the group has not seen it yet.
            assert not second.done() and all_idle(pool)
            assert not [m for m in emu.messages_to(GROUP) if "Tables" in (m.plain_text or "")]
            second.cancel()
        finally:
            await bot.session.close()
