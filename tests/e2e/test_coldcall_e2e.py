"""Acceptance: a cold call in a supergroup with a real `learnbot run` process over long polling
against the local Bot API emulator. Both what people see and the rows behind it are checked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from tests.e2e.helpers import (
    ADA,
    ADMIN,
    BOB,
    CAROL,
    EVE,
    GROUP,
    TUTOR,
    cohort_with_members,
    in_group,
    learnbot_env,
    reply_from_bot,
    until,
)
from tests.helpers import DEMO, import_path
from tests.support.botapi import BotAPIEmulator


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
    await cohort_with_members(emu, mark)

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

    # A thread under Carol's answer reaches the process shuffled: replies come before the
    # messages they answer. (The emulator's queue is reordered under its lock, before the bot
    # can poll any of it.) Each waits and is threaded when its parent arrives.
    people = [ADA, BOB, TUTOR, CAROL]
    thread: list[dict] = []
    parent_of: dict[int, int] = {}
    with emu._lock:
        for i in range(12):
            parent = carol if i < 2 else thread[(i * 7) % len(thread)]
            m = in_group(emu, people[i % 4], f"Thread {i}", parent["message_id"])
            thread.append(m)
            parent_of[m["message_id"]] = parent["message_id"]
        tail = [emu._updates.pop() for _ in range(12)][::-1]
        order = [11, 3, 7, 0, 9, 5, 1, 10, 4, 8, 2, 6]  # children before parents, often
        emu._updates.extend(tail[j] for j in order)
    await until(stored(5 + 12))
    async with pool.acquire() as conn:
        ids = {r["telegram_message_id"]: r for r in await conn.fetch(
            "SELECT id, telegram_message_id, parent_id, root_id FROM cold_call_messages")}
        waiting = await conn.fetchval("SELECT count(*) FROM cold_call_waiting_replies")
        events = await conn.fetchval(
            "SELECT count(*) FROM learner_activity_events WHERE event_type = 'cold_call.reply'")
    for m in thread:
        row = ids[m["message_id"]]
        assert row["parent_id"] == ids[parent_of[m["message_id"]]]["id"], m["text"]
        assert row["root_id"] == ids[carol["message_id"]]["id"], m["text"]
    assert waiting == 0
    assert events == 4 + sum(1 for m in thread if m["from"]["id"] != TUTOR)  # each once
