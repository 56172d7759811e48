"""The delivery worker against the local Bot API emulator: 429 storms, 403s, 5xx retries."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from bot.app import make_bot
from bot.config import load_settings
from bot.workers.delivery import DeliveryWorker
from bot.workers.sender import RateLimitedSender
from tests.helpers import Clock, daytime_zone, import_path, seed_learners, tiny_course
from tests.support.botapi import BotAPIEmulator

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
BASE_ID = 7_100_000


def worker_for(emu: BotAPIEmulator, pool: asyncpg.Pool, clock: Clock, rate: float = 200):
    settings = load_settings(bot_token="123456:TEST", telegram_api_url=emu.url,
                             delivery_rate_per_second=rate, delivery_concurrency=32)
    bot = make_bot(settings)
    sender = RateLimitedSender(rate_per_second=rate)
    return DeliveryWorker(pool, bot, sender, settings, clock=clock, name="test"), bot, sender


async def test_429_storm_is_obeyed_and_403_marks_user(pool: asyncpg.Pool, tmp_path: Path) -> None:
    report = await import_path(pool, tiny_course(tmp_path / "c"))
    await seed_learners(pool, report.course_id, 60)
    blocked = [BASE_ID + i for i in (3, 17, 42)]
    async with BotAPIEmulator() as emu:
        for chat in blocked:
            emu.block_chat(chat)
        emu.rate_limit(5, retry_after=1, methods={"sendMessage"})
        worker, bot, sender = worker_for(emu, pool, Clock(NOW))
        try:
            result = await worker.run_once()
        finally:
            await bot.session.close()
        calls = sorted(emu.calls("sendMessage"), key=lambda c: c.at)
    assert result.sent == 57 and result.blocked == 3
    ok_chats = [c.params["chat_id"] for c in calls if c.ok]
    assert sorted(ok_chats) == sorted(BASE_ID + g for g in range(1, 61) if BASE_ID + g
                                      not in blocked)  # each reachable learner exactly once
    limited = [c for c in calls if c.status == 429]
    assert len(limited) == 5 and sender.stats.retried_429 == 5
    for c429 in limited:  # nothing new went out while Telegram asked us to wait
        quiet = [c for c in calls if c429.at + 0.25 < c.at < c429.at + 1 - 0.1]
        assert not quiet, (c429.at, [c.at for c in quiet])
    async with pool.acquire() as conn:
        unreachable = {r[0] for r in await conn.fetch(
            "SELECT telegram_id FROM users WHERE NOT is_reachable")}
        statuses = dict(await conn.fetch(
            "SELECT status::text, count(*) FROM journey_deliveries GROUP BY 1"))
    assert unreachable == set(blocked)
    assert statuses == {"sent": 57, "failed": 3}


async def test_slots_planned_before_a_429_wait_for_the_pause(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """A backlog already planned into future send slots must not fire during a 429 pause."""
    report = await import_path(pool, tiny_course(tmp_path / "c"))
    await seed_learners(pool, report.course_id, 150)
    async with BotAPIEmulator() as emu:
        emu.rate_limit(1, retry_after=2, methods={"sendMessage"})
        worker, bot, _ = worker_for(emu, pool, Clock(NOW), rate=100)
        try:
            result = await worker.run_once()
        finally:
            await bot.session.close()
        calls = sorted(emu.calls("sendMessage"), key=lambda c: c.at)
    assert result.sent == 150
    [limited] = [c for c in calls if c.status == 429]
    during = [c for c in calls if limited.at + 0.2 < c.at < limited.at + 2 - 0.1]
    assert not during, f"{len(during)} calls went out during the 2 s pause"


async def test_server_errors_are_retried_later_and_sent_once(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    report = await import_path(pool, tiny_course(tmp_path / "c"))
    await seed_learners(pool, report.course_id, 10)
    clock = Clock(NOW)
    async with BotAPIEmulator() as emu:
        emu.fail_next(4, 500, methods={"sendMessage"})
        worker, bot, _ = worker_for(emu, pool, clock)
        try:
            first = await worker.run_once()
            assert first.sent == 6 and first.retry_later == 4
            clock.now = NOW + timedelta(minutes=20)  # past the backoff
            second = await worker.run_once()
            assert second.sent == 4
            clock.now = NOW + timedelta(hours=2)
            assert (await worker.run_once()).claimed == 0  # nothing twice
        finally:
            await bot.session.close()
        ok = [c.params["chat_id"] for c in emu.calls("sendMessage") if c.ok]
    assert sorted(ok) == [BASE_ID + g for g in range(1, 11)]


async def test_journey_card_start_opens_the_lesson(pool: asyncpg.Pool, tmp_path: Path) -> None:
    """The pushed card's Start button opens the journey with a Done button."""
    from bot.app import build_dispatcher

    report = await import_path(pool, tiny_course(tmp_path / "c"))
    await seed_learners(pool, report.course_id, 1)
    chat = BASE_ID + 1
    async with BotAPIEmulator() as emu:
        clock = Clock(NOW)
        worker, bot, _ = worker_for(emu, pool, clock)
        try:
            await worker.run_once()
            card = await emu.wait_for("Today's journey")
            assert "Topic 1.1" in (card.plain_text or "")
            dp = build_dispatcher(worker.settings, pool, clock=clock)
            update = {"update_id": 1, "callback_query": {
                "id": "cb1", "from": {"id": chat, "is_bot": False, "first_name": "L"},
                "chat_instance": "x", "message": card.message,
                "data": card.button("Start")["callback_data"]}}
            emu.push_raw(update)
            clock.now = NOW + timedelta(minutes=1)
            await dp.feed_raw_update(bot, update)
            lesson = await emu.wait_for(lambda m: "Done" in str(m.buttons))
            assert "Text of topic 1.1" in (lesson.plain_text or "")
        finally:
            await bot.session.close()
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status::text, opened_at FROM journey_deliveries")
    assert row["status"] == "sent" and row["opened_at"] == NOW + timedelta(minutes=1)


async def test_timeouts_are_retried_with_backoff(pool: asyncpg.Pool, tmp_path: Path) -> None:
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    report = await import_path(pool, tiny_course(tmp_path / "c"))
    await seed_learners(pool, report.course_id, 3)
    clock = Clock(NOW)
    async with BotAPIEmulator() as emu:
        emu.delay(2.5, methods={"sendMessage"})
        settings = load_settings(bot_token="123456:TEST", telegram_api_url=emu.url)
        session = AiohttpSession(api=TelegramAPIServer.from_base(emu.url), timeout=1)
        bot = make_bot(settings, session=session)
        worker = DeliveryWorker(pool, bot, RateLimitedSender(rate_per_second=100), settings,
                                clock=clock, name="t")
        try:
            first = await worker.run_once()
            assert first.sent == 0 and first.retry_later == 3
            async with pool.acquire() as conn:
                errors = [r[0] for r in await conn.fetch(
                    "SELECT last_error FROM journey_deliveries WHERE status = 'claimed'")]
            assert len(errors) == 3 and all(errors)
            emu.delay(0)
            clock.now = NOW + timedelta(seconds=2)  # before the backoff: nothing is retried
            assert (await worker.run_once()).claimed == 0
            clock.now = NOW + timedelta(minutes=5)
            assert (await worker.run_once()).sent == 3
        finally:
            await bot.session.close()


async def test_two_workers_and_a_429_longer_than_the_visibility_timeout_send_each_once(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """Worker A's claims stay alive through a 7 s 429 pause (its heartbeat) although the
    visibility timeout is 5 s: worker B, polling all along, never retakes and resends them."""
    report = await import_path(pool, tiny_course(tmp_path / "c"))
    now = datetime.now(UTC)
    await seed_learners(pool, report.course_id, 20,
                        due=now - timedelta(minutes=5), timezone=daytime_zone(now))
    async with BotAPIEmulator() as emu:
        emu.rate_limit(1, retry_after=7, methods={"sendMessage"})
        settings = load_settings(bot_token="123456:TEST", telegram_api_url=emu.url,
                                 delivery_visibility_timeout_seconds=5)
        bots, workers = [], []
        for name in ("a", "b"):
            bot = make_bot(settings)
            bots.append(bot)
            workers.append(DeliveryWorker(pool, bot, RateLimitedSender(rate_per_second=100),
                                          settings, clock=lambda: datetime.now(UTC),
                                          name=name))
        a, b = workers
        try:
            first = asyncio.create_task(a.run_once())
            await emu.wait_for_call("sendMessage", lambda c: c.status == 429, timeout=10)
            polled = 0
            while not first.done():  # B polls every 0.5 s while A waits out the 429
                assert (await b.run_once()).claimed == 0
                polled += 1
                await asyncio.sleep(0.5)
            result = await first
        finally:
            for bot in bots:
                await bot.session.close()
        calls = emu.calls("sendMessage")
    assert polled >= 10  # B really looked, past the 5 s visibility timeout
    assert result.sent == 20
    ok = Counter(c.params["chat_id"] for c in calls if c.ok)
    assert len(ok) == 20 and set(ok.values()) == {1}, ok.most_common(3)
    async with pool.acquire() as conn:
        assert await conn.fetchval(
            "SELECT count(*) FROM journey_deliveries WHERE status = 'sent'") == 20


async def test_one_chats_400_anothers_garbage_and_a_bug_leave_everyone_else_served(
    pool: asyncpg.Pool, tmp_path: Path, monkeypatch
) -> None:
    from bot.workers import delivery

    report = await import_path(pool, tiny_course(tmp_path / "c"))
    await seed_learners(pool, report.course_id, 10)
    bad_request, garbled, buggy = BASE_ID + 2, BASE_ID + 5, BASE_ID + 8
    card = delivery.texts.journey_card

    def journey_card(jv):
        if jv.telegram_id == buggy:
            raise KeyError("a bug in rendering this learner's card")
        return card(jv)

    monkeypatch.setattr(delivery.texts, "journey_card", journey_card)
    async with BotAPIEmulator() as emu:
        emu.chat_fault(bad_request, 400, "Bad Request: message text is empty")
        emu.chat_fault(garbled, garbage=True)
        worker, bot, _ = worker_for(emu, pool, Clock(NOW))
        try:
            result = await worker.run_once()
        finally:
            await bot.session.close()
        ok = Counter(c.params["chat_id"] for c in emu.calls("sendMessage") if c.ok)
    others = {BASE_ID + g for g in range(1, 11)} - {bad_request, garbled, buggy}
    assert set(ok) == others and set(ok.values()) == {1}
    assert result.sent == 7 and result.failed == 1 and result.retry_later == 2
    assert result.errors and "KeyError" in result.errors[0]
    async with pool.acquire() as conn:
        rows = dict(await conn.fetch(
            "SELECT u.telegram_id, d.status::text FROM journey_deliveries d JOIN course_users "
            "cu ON cu.id = d.course_user_id JOIN users u ON u.id = cu.user_id"))
    assert rows[bad_request] == "failed"
    assert rows[garbled] == "claimed" and rows[buggy] == "claimed"  # retried after backoff
