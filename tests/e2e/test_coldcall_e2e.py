"""Acceptance: a cold call in a supergroup with a real `learnbot run` process over long polling
against the local Bot API emulator. Both what people see and the rows behind it are checked."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from tests.e2e.conftest import learnbot_env
from tests.helpers import DEMO, import_path
from tests.support.botapi import BotAPIEmulator, SentMessage

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


async def test_cold_call_in_a_supergroup(
    emu: BotAPIEmulator, spawn, db_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await import_path(pool, DEMO)
    emu.add_chat(GROUP, "supergroup", title="SQL from Zero — spring")
    bot = await spawn(["run"], learnbot_env(db_url, emu.url, tmp_path,
                                            admin_telegram_ids=str(ADMIN)))
    await bot.ready()

    # the admin sets up the cohort, its tutor and members, and links the group
    mark = emu.mark()
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

    # the tutor posts a cold call; three learners answer; Bob answers Ada in her thread
    in_group(emu, TUTOR, "/coldcall 1.1")
    post = await reply_from_bot(emu, GROUP, "Cold call", mark)
    assert "row and a column" in (post.plain_text or "")

    def stored(n: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            async with pool.acquire() as conn:
                return await conn.fetchval("SELECT count(*) FROM cold_call_messages") >= n
        return check

    ada = in_group(emu, ADA, "A row is one book, a column one attribute.", post.message_id)
    await until(stored(1))
    bob = in_group(emu, BOB, "Columns are typed fields.", post.message_id)
    carol = in_group(emu, CAROL, "Rows are records.", post.message_id)
    await until(stored(3))
    bob_thread = in_group(emu, BOB, "Ada's example is great: title is a column.",
                          ada["message_id"])
    eve = in_group(emu, EVE, "I'd like to answer too", post.message_id)
    await until(stored(4))
    tutor_reply = in_group(emu, TUTOR, "Spot on, Ada!", ada["message_id"])
    await until(stored(5))

    # the tutor stars Ada's answer with /star and Carol's with a 👍 reaction; Bob stars Ada's
    in_group(emu, TUTOR, "/star", ada["message_id"])
    await reply_from_bot(emu, GROUP, "Starred — 1 star", mark)
    in_group(emu, BOB, "/star", ada["message_id"])
    await reply_from_bot(emu, GROUP, "Starred — 2 stars", mark)
    emu.push_reaction(TUTOR, GROUP, carol["message_id"], "👍", first_name="Tess")

    async def carol_starred() -> bool:
        async with pool.acquire() as conn:
            return await conn.fetchval("SELECT count(*) FROM cold_call_stars") == 3
    await until(carol_starred)

    in_group(emu, CAROL, "/top")
    top = await reply_from_bot(emu, GROUP, "Top answers", mark)
    lines = (top.plain_text or "").splitlines()
    assert lines[2].startswith("1. ⭐2 Ada: A row is one book")
    assert lines[3].startswith("2. ⭐1 Carol: Rows are records")
    assert len(lines) == 4  # Bob's answers have no stars; the tutor's reply is not an answer

    # Eve isn't a member: her reply was not stored, and she was told privately how to join
    await reply_from_bot(emu, EVE, "not a member of cohort spring", mark)
    async with pool.acquire() as conn:
        rows = {r["telegram_message_id"]: r for r in await conn.fetch(
            """
            SELECT m.id, m.telegram_message_id, m.parent_id, m.root_id, m.is_tutor_reply,
                   u.telegram_id, (SELECT count(*) FROM cold_call_stars s
                                   WHERE s.message_id = m.id) AS stars
            FROM cold_call_messages m JOIN users u ON u.id = m.user_id
            """)}
        posts = await conn.fetch("SELECT telegram_chat_id, telegram_message_id "
                                 "FROM cold_call_posts")
        events = await conn.fetchval(
            "SELECT count(*) FROM learner_activity_events WHERE event_type = 'cold_call.reply'")
    assert [(p["telegram_chat_id"], p["telegram_message_id"]) for p in posts] == [
        (GROUP, post.message_id)]
    assert eve["message_id"] not in rows and len(rows) == 5
    top_level = [ada, bob, carol]
    assert all(rows[m["message_id"]]["parent_id"] is None for m in top_level)
    threaded = rows[bob_thread["message_id"]]
    root = rows[ada["message_id"]]["id"]
    assert (threaded["parent_id"], threaded["root_id"], threaded["telegram_id"]) == (
        root, root, BOB)
    tutor_row = rows[tutor_reply["message_id"]]
    assert tutor_row["is_tutor_reply"] and tutor_row["parent_id"] == root
    assert sum(r["is_tutor_reply"] for r in rows.values()) == 1
    assert {m["message_id"]: rows[m["message_id"]]["stars"] for m in top_level} == {
        ada["message_id"]: 2, bob["message_id"]: 0, carol["message_id"]: 1}
    assert events == 4  # one per learner answer; the tutor's reply is not learner activity
