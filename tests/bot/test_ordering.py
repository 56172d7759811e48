"""Updates from one group are handled in arrival order even though aiogram runs them as
concurrent tasks: a reply that arrives right behind its parent still threads under it."""

from __future__ import annotations

import asyncio
import itertools

import asyncpg

from tests.bot.cohort_helpers import (
    ADA,
    BOB,
    GROUP,
    THREAD,
    TUTOR,
    bot_posts,
    cohort_with_members,
    group_say,
    rig,
)


async def test_reply_in_the_same_batch_as_its_parent_is_threaded(pool: asyncpg.Pool) -> None:
    async with rig(pool) as h:
        await cohort_with_members(h)
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


async def test_fifty_replies_in_five_overlapping_batches_all_thread_right(
    pool: asyncpg.Pool,
) -> None:
    """Each reply answers the one before it (a chain under Ada's answer), fed as five batches
    of ten where every batch starts while the previous one is still being handled: the group
    lock must survive the hand-over between batches, or a reply runs before its parent."""
    async with rig(pool) as h:
        await cohort_with_members(h)
        await group_say(h, TUTOR, "/coldcall 1.1", thread_id=THREAD, name="Tess")
        post = bot_posts(h)[-1]
        messages = [h.emu.push_message(
            ADA, "Answer 0", chat_id=GROUP, chat_type="supergroup", first_name="Ada",
            reply_to_message_id=post.message_id, thread_id=THREAD, is_topic_message=True)]
        for i in range(1, 50):
            who, name = (BOB, "Bob") if i % 2 else (ADA, "Ada")
            messages.append(h.emu.push_message(
                who, f"Reply {i}", chat_id=GROUP, chat_type="supergroup", first_name=name,
                reply_to_message_id=messages[-1]["message_id"], thread_id=THREAD,
                is_topic_message=True))
        batches = []
        for b in range(5):
            batch = messages[b * 10:(b + 1) * 10]
            batches.append(asyncio.gather(*(
                h.feed({"update_id": h._next(), "message": m}) for m in batch)))
            await asyncio.sleep(0.01)  # the next batch arrives while this one is handled
        await asyncio.gather(*batches)
        ids = {m["message_id"]: await _id_of(pool, m["message_id"]) for m in messages}
        async with pool.acquire() as conn:
            rows = {r["telegram_message_id"]: r for r in await conn.fetch(
                "SELECT telegram_message_id, parent_id, root_id FROM cold_call_messages")}
        assert len(rows) == 50
        assert rows[messages[0]["message_id"]]["parent_id"] is None
        for prev, m in itertools.pairwise(messages):
            row = rows[m["message_id"]]
            assert row["parent_id"] == ids[prev["message_id"]], m["text"]
            assert row["root_id"] == ids[messages[0]["message_id"]]
        order = next(m for m in h.dp.update.outer_middleware
                     if type(m).__name__ == "GroupOrderMiddleware")
        assert order.locks == {}  # nothing kept for an idle group
