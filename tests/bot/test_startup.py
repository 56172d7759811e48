"""Startup and decoration never kill the bot: a Bot API server that doesn't implement
setMyCommands and answers sendChatAction with garbage still gets a bot that starts and answers,
with no "Task exception was never retrieved" anywhere. Only a 401 or a server that stays
unreachable stop it, each with one line. (tests/e2e/test_process_faults.py runs the same
against a real `learnbot run` process.)"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket

import pytest
from aiogram.exceptions import TelegramUnauthorizedError

from bot.app import make_bot
from bot.config import load_settings
from bot.transports.guard import StartupFailed, TokenRevoked, guard_of, probe_token
from bot.ui.menus import set_commands
from bot.ui.typing import typing
from tests.support.botapi import BotAPIEmulator
from tests.support.harness import ADMIN, TOKEN, Harness

ADA = 7001  # a learner (the asker fixture: tests/bot/conftest.py)


@pytest.fixture
def loop_errors() -> list[dict]:
    """Filled by `_collect` with whatever the event loop would print as an unhandled error
    (unretrieved task exceptions included, which surface when the task is collected)."""
    return []


def _collect(seen: list[dict]) -> None:
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: seen.append(ctx))


async def test_menus_unsupported_and_typing_garbage_the_bot_still_answers(
    asker: Harness, caplog: pytest.LogCaptureFixture, loop_errors: list[dict],
) -> None:
    _collect(loop_errors)
    asker.emu.unsupported(["setMyCommands"])
    asker.emu.garbage(["sendChatAction"])
    with caplog.at_level(logging.WARNING):
        assert await set_commands(asker.bot, asker.settings) is False
    warnings = [r for r in caplog.records if "command menus" in r.getMessage()]
    assert len(warnings) == 1 and "method not found" in warnings[0].getMessage()
    assert len(asker.emu.calls("setMyCommands")) == 1  # gave up at the first refusal

    await asker.say(ADA, "/start enroll_sql-basics")
    mark = asker.emu.mark()
    await asker.say(ADA, "how do I list each genre only once?")
    answer = await asker.emu.wait_for("Sources", since=mark)
    assert "Use ORDER BY with DESC" in (answer.plain_text or "")
    assert asker.emu.calls("sendChatAction")  # it tried, got garbage, didn't care
    gc.collect()
    await asyncio.sleep(0.05)
    assert not loop_errors, loop_errors
    assert "never retrieved" not in caplog.text


async def test_typing_survives_any_failure_and_leaves_no_task_behind(
    loop_errors: list[dict],
) -> None:
    _collect(loop_errors)
    async with BotAPIEmulator() as emu:
        bot = make_bot(load_settings(bot_token=TOKEN, telegram_api_url=emu.url))
        try:
            emu.garbage(["sendChatAction"])
            async with typing(bot, ADMIN, every=0.01):
                await asyncio.sleep(0.1)
            emu.reset_faults()
            emu.fail_for(5, 502, methods={"sendChatAction"})
            async with typing(bot, ADMIN, every=0.01):
                await asyncio.sleep(0.1)
            emu.reset_faults()
            emu.unsupported(["sendChatAction"])
            assert await bot.send_chat_action(ADMIN, "typing") is True  # the guard's answer
            async with typing(bot, ADMIN):
                pass
        finally:
            await bot.session.close()
        assert len(emu.calls("sendChatAction")) >= 4
    gc.collect()
    await asyncio.sleep(0.05)
    assert not loop_errors, loop_errors
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("typing-")]


async def test_a_revoked_token_is_one_clear_line() -> None:
    async with BotAPIEmulator() as emu:
        bot = make_bot(load_settings(bot_token=TOKEN, telegram_api_url=emu.url))
        try:
            assert (await probe_token(bot)).id == emu.bot_user["id"]
            emu.revoke_token()
            with pytest.raises(TokenRevoked, match=r"401.*BOT_TOKEN"):
                await probe_token(bot)
            guard = guard_of(bot)
            with pytest.raises(TelegramUnauthorizedError):
                await bot.send_message(ADMIN, "hi")
            assert guard.revoked.is_set() and "401" in (guard.reason or "")
        finally:
            await bot.session.close()


async def test_an_unreachable_server_is_retried_then_one_line() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bot = make_bot(load_settings(bot_token=TOKEN, telegram_api_url=f"http://127.0.0.1:{port}"))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    try:
        with pytest.raises(StartupFailed, match="did not answer getMe after 4 tries"):
            await probe_token(bot, attempts=4, sleep=sleep)
    finally:
        await bot.session.close()
    assert slept == [1.0, 2.0, 4.0]


async def test_a_server_that_comes_back_during_the_retries_is_fine() -> None:
    async with BotAPIEmulator() as emu:
        emu.fail_for(60, 502, methods={"getMe"})
        bot = make_bot(load_settings(bot_token=TOKEN, telegram_api_url=emu.url))
        tries = 0

        async def sleep(seconds: float) -> None:
            nonlocal tries
            tries += 1
            if tries == 2:
                emu.reset_faults()

        try:
            me = await probe_token(bot, sleep=sleep)
        finally:
            await bot.session.close()
    assert me.username and tries == 2
