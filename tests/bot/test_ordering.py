"""Updates from one group are handled in arrival order even though aiogram runs them as
concurrent tasks: a reply that arrives right behind its parent still threads under it."""

from __future__ import annotations

import asyncio

import asyncpg

from tests.bot.cohort_helpers import GROUP, bot_posts, group_say, rig
from tests.bot.test_cohorts import ADA, BOB, THREAD, TUTOR, _cohort_with_members


async def test_reply_in_the_same_batch_as_its_parent_is_threaded(pool: asyncpg.Pool) -> None:
    async with rig(pool) as h:
        await _cohort_with_members(h)
        await group_say(h, TUTOR, "/coldcall 1.1", thread_id=THREAD, name="Tess")
        post = bot_posts(h)[-1]
        burst = []
        parent = h.emu.push_message(
            ADA, "A row is a record.", chat_id=GROUP, chat_type="supergroup", first_name="Ada",
            reply_to_message_id=post.message_id, thread_id=THREAD, is_topic_message=True)
        burst.append(parent)
        for i in range(3):
            burst.append(h.emu.push_message(
                BOB, f"Reply {i} to Ada", chat_id=GROUP, chat_type="supergroup",
                first_name="Bob", reply_to_message_id=parent["message_id"], thread_id=THREAD,
                is_topic_message=True))
        # one polling batch: aiogram starts a task per update, all at once
        await asyncio.gather(*(h.feed({"update_id": h._next(), "message": m}) for m in burst))
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT telegram_message_id, parent_id, root_id FROM cold_call_messages "
                "ORDER BY telegram_message_id")
        assert len(rows) == 4
        root = await _id_of(pool, parent["message_id"])
        assert all(r["parent_id"] == root for r in rows[1:])


async def _id_of(pool: asyncpg.Pool, telegram_message_id: int):
    async with pool.acquire() as conn:
        return await conn.fetchval(
            "SELECT id FROM cold_call_messages WHERE telegram_message_id = $1",
            telegram_message_id)
