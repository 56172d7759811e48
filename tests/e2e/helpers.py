"""Helpers shared by the process tests: the environment a `learnbot run` child gets, and
the people, group and cohort the cold-call process tests start from."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.support.botapi import BotAPIEmulator, SentMessage

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:TEST-token"


def learnbot_env(db_url: str, api_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": api_url,
        "DATABASE_URL": db_url,
        "DATA_DIR": str(tmp_path / "data"),
        "LOG_LEVEL": "INFO",
        "HF_HUB_OFFLINE": "1",
        "DELIVERY_POLL_SECONDS": "1",
    }
    env.update({k.upper(): v for k, v in extra.items()})
    return env


ADMIN, TUTOR, ADA, BOB, CAROL, EVE = 910001, 910002, 910101, 910102, 910103, 910199
GROUP = -1003000000001
NAMES = {ADMIN: "Admin", TUTOR: "Tess", ADA: "Ada", BOB: "Bob", CAROL: "Carol", EVE: "Eve"}


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 30) -> Any:  # noqa: ASYNC109
    """Poll until `check()` returns something truthy (the bot works asynchronously)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met in {timeout}s: {check.__name__}")
        await asyncio.sleep(0.05)


def say(emu: BotAPIEmulator, user: int, text: str, **kw: Any) -> dict[str, Any]:
    return emu.push_message(user, text, first_name=NAMES[user], **kw)


def in_group(emu: BotAPIEmulator, user: int, text: str, reply_to: int | None = None
             ) -> dict[str, Any]:
    return say(emu, user, text, chat_id=GROUP, chat_type="supergroup",
               reply_to_message_id=reply_to)


async def reply_from_bot(emu: BotAPIEmulator, chat: int, needle: str, since: int
                         ) -> SentMessage:
    return await emu.wait_for(
        lambda m: m.chat_id == chat and needle in (m.plain_text or ""), timeout=30, since=since)


async def cohort_with_members(emu: BotAPIEmulator, mark: int) -> None:
    """Through the running bot: cohort 'spring' of the demo course, its tutor, Ada, Bob and
    Carol joined by their invite links, and GROUP linked to it."""
    say(emu, ADMIN, "/cohort_new sql-basics spring")
    await reply_from_bot(emu, ADMIN, "Cohort spring created", mark)
    say(emu, ADMIN, f"/grant tutor {TUTOR} sql-basics")
    await reply_from_bot(emu, ADMIN, "now tutors", mark)
    say(emu, ADMIN, "/cohort_add spring ada@example.com bob@example.com carol@example.com")
    added = await reply_from_bot(emu, ADMIN, "3 added", mark)
    links = dict(re.findall(r"(\S+@example\.com) — \S+start=join_([0-9a-f]{32})",
                            added.plain_text or ""))
    in_group(emu, ADMIN, "/link spring")
    await reply_from_bot(emu, GROUP, "linked to cohort spring", mark)
    for user, email in ((ADA, "ada"), (BOB, "bob"), (CAROL, "carol")):
        say(emu, user, f"/start join_{links[email + '@example.com']}")
        await reply_from_bot(emu, user, "Welcome to cohort spring", mark)
