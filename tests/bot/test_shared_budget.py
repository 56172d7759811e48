"""One Telegram budget for several processes, on a real Redis (bot/shared.py): two senders
and two dispatchers, each with its own Redis client as separate processes would have, against
the Bot API emulator. What counts is what the emulator received and when."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from datetime import UTC, datetime

import asyncpg
import pytest

from bot.app import build_dispatcher, make_bot
from bot.config import load_settings
from bot.shared import SharedLimits, send_window
from bot.workers.sender import RateLimitedSender
from tests.helpers import max_in_one_second
from tests.support.botapi import BotAPIEmulator
from tests.support.harness import TOKEN
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.solo  # send timing is measured: run alone


def _times(emu: BotAPIEmulator) -> list[float]:
    return sorted(c.at for c in emu.calls("sendMessage"))


async def test_two_senders_share_one_rate_one_chat_interval_and_one_429_pause(
    redis_url: str, redis_prefix: str
) -> None:
    async with BotAPIEmulator() as emu:
        settings = load_settings(bot_token=TOKEN, telegram_api_url=emu.url)
        bots = [make_bot(settings) for _ in range(2)]
        shared = [SharedLimits(redis_url, prefix=redis_prefix) for _ in range(2)]
        senders = [RateLimitedSender(rate_per_second=40, shared=s) for s in shared]
        try:
            for b in bots:  # as a process starts: its token checked, its connection open
                await b.get_me()

            async def send(i: int, chat: int) -> None:
                await senders[i].send(chat, lambda: bots[i].send_message(chat, "hi"))

            # 160 chats, half through each "process", plus chat 7 twice from each
            jobs = [send(g % 2, 1000 + g) for g in range(160)]
            jobs += [send(0, 7), send(1, 7), send(0, 7), send(1, 7)]

            async def rate_limit_later() -> None:
                await emu.wait_for_count(60, timeout=30)
                emu.rate_limit(1, retry_after=1)

            await asyncio.gather(rate_limit_later(), *jobs)
        finally:
            for b in bots:
                await b.session.close()
            for s in shared:
                await s.close()
        calls = emu.calls("sendMessage")
        times = _times(emu)
        assert max_in_one_second(times) <= 40
        assert sum(c.ok for c in calls) == 164
        # one 429, given to whichever sender asked: neither sent during its retry_after
        (refused,) = [c for c in calls if c.status == 429]
        during = [t for t in times if refused.at + 0.1 < t < refused.at + 1.0]
        assert during == [], f"{len(during)} requests during the pause"
        assert sum(s.stats.retried_429 for s in senders) == 1
        sevens = sorted(c.at for c in calls if c.params["chat_id"] == 7)
        assert all(b - a >= 0.95 for a, b in itertools.pairwise(sevens)), sevens



async def test_a_full_send_window_holds_a_send_back_until_its_second_has_room(
    redis_url: str, redis_prefix: str
) -> None:
    """Other processes' sends, bunched by a stall, filled this second's window: a send whose
    slot comes now waits for room (a new slot, its chat's window taken again) and goes once."""
    async with BotAPIEmulator() as emu:
        settings = load_settings(bot_token=TOKEN, telegram_api_url=emu.url)
        bot = make_bot(settings)
        shared = SharedLimits(redis_url, prefix=redis_prefix)
        sender = RateLimitedSender(rate_per_second=20, shared=shared)
        try:
            await bot.get_me()
            sends, seconds = send_window(20)
            assert (sends, seconds) == (19, 1)  # 3% under 20/s, whole sends
            filled = time.monotonic()
            for _ in range(sends):  # what the other processes sent just now
                assert await shared.hit(sender._send_item, "send", "window") == 0
            await sender.send(7, lambda: bot.send_message(7, "hi"))
        finally:
            await bot.session.close()
            await shared.close()
        (call,) = emu.calls("sendMessage")
        assert call.ok and call.at - filled >= 0.9  # the window's second had to pass


def test_the_send_window_keeps_slow_rates_slow() -> None:
    assert send_window(100) == (97, 1)
    assert send_window(0.5) == (4, 10)  # 0.4/s, not rounded up to 1/s
    assert send_window(2) == (19, 10)

async def test_redis_going_away_falls_back_to_a_share_of_the_rate(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = RedisServer()  # ours alone: this test stops it
    async with BotAPIEmulator() as emu:
        settings = load_settings(bot_token=TOKEN, telegram_api_url=emu.url)
        bot = make_bot(settings)
        shared = [SharedLimits(server.url, prefix="fallback") for _ in range(2)]
        senders = [RateLimitedSender(rate_per_second=20, shared=s) for s in shared]
        try:
            for i, sender in enumerate(senders):  # both announce themselves; the second
                await sender.send(1 + i, lambda c=1 + i: bot.send_message(c, "hi"))  # sees 2
            server.stop()
            mark = len(emu.calls("sendMessage"))
            with caplog.at_level(logging.WARNING, logger="bot.shared"):
                await asyncio.gather(*(
                    senders[1].send(100 + g, lambda c=100 + g: bot.send_message(c, "hi"))
                    for g in range(20)))
        finally:
            await bot.session.close()
            for s in shared:
                await s.close()
            server.stop()
        after = emu.calls("sendMessage")[mark:]
        assert all(c.ok for c in after) and len(after) == 20  # still sending
        # on its own now, it keeps to its share (20 msg/s over 2 senders), not the whole rate
        assert max_in_one_second([c.at for c in after]) <= 11
        warnings = [r for r in caplog.records if "falling back" in r.getMessage()]
        assert len(warnings) == 1


async def test_flood_control_is_shared_by_two_bot_processes(
    pool: asyncpg.Pool, redis_url: str, redis_prefix: str
) -> None:
    async with BotAPIEmulator() as emu:
        settings = load_settings(bot_token=TOKEN, telegram_api_url=emu.url,
                                 flood_messages_per_minute=3, redis_url=redis_url,
                                 redis_key_prefix=redis_prefix)
        clock = lambda: datetime(2026, 6, 1, 7, 0, tzinfo=UTC)  # noqa: E731
        bot = make_bot(settings)
        dps = [build_dispatcher(settings, pool, clock=clock) for _ in range(2)]
        user = 424242
        try:
            for n in range(6):  # alternately to each process
                update = {"update_id": 500 + n, "message": {
                    "message_id": 500 + n, "date": 1780000000, "text": "/help",
                    "chat": {"id": user, "type": "private"},
                    "from": {"id": user, "is_bot": False, "first_name": "F"},
                    "entities": [{"type": "bot_command", "offset": 0, "length": 5}]}}
                await dps[n % 2].feed_raw_update(bot, update)
        finally:
            await bot.session.close()
            for dp in dps:
                await dp["shared"].close()
        texts = [m.plain_text or "" for m in emu.messages_to(user)]
        assert sum("What I can do" in t for t in texts) == 3
        assert sum("very fast" in t for t in texts) == 1
