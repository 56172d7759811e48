"""Dispatcher-level fixtures: the real Dispatcher and handlers, a real aiogram Bot talking HTTP
to the local Bot API emulator, a real database, and a settable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from bot.app import build_dispatcher, make_bot
from bot.config import load_settings
from tests.helpers import Clock
from tests.support.botapi import BotAPIEmulator
from tests.support.fake_llm import FakeLLM
from tests.support.harness import ADMIN, TOKEN, Harness


@pytest.fixture
async def harness(pool: asyncpg.Pool) -> AsyncIterator[Harness]:
    async with BotAPIEmulator() as emu:
        settings = load_settings(
            bot_token=TOKEN, telegram_api_url=emu.url, admin_telegram_ids=[ADMIN],
            flood_messages_per_minute=30,
        )
        clock = Clock(datetime(2026, 6, 1, 7, 0, tzinfo=UTC))
        bot = make_bot(settings)
        dp = build_dispatcher(settings, pool, clock=clock)
        try:
            yield Harness(emu, bot, dp, settings, clock, pool)
        finally:
            await bot.session.close()


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLLM]:
    async with FakeLLM() as fake:
        yield fake


@pytest.fixture
async def asker(demo_pool: asyncpg.Pool, fake_llm: FakeLLM, embedder) -> AsyncIterator[Harness]:
    async with BotAPIEmulator() as emu:
        settings = load_settings(
            bot_token=TOKEN, telegram_api_url=emu.url, admin_telegram_ids=[ADMIN],
            flood_messages_per_minute=30, llm_base_url=fake_llm.url, llm_model="fake",
            llm_timeout_seconds=5, llm_max_retries=0,
        )
        clock = Clock(datetime(2026, 6, 1, 7, 0, tzinfo=UTC))
        bot = make_bot(settings)
        dp = build_dispatcher(settings, demo_pool, clock=clock)
        assert dp["rag"].embedder is embedder  # one model per process
        try:
            yield Harness(emu, bot, dp, settings, clock, demo_pool)
        finally:
            await bot.session.close()
