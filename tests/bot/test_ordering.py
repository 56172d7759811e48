"""Updates from one group are handled in arrival order even though aiogram runs them as
concurrent tasks: a reply that arrives right behind its parent still threads under it. And
when a reply does arrive before its parent, it waits and is threaded when the parent comes."""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid

import asyncpg
from aiogram.types import Message

from storage import coldcalls
from storage.cohorts import Cohort
from tests.bot.cohort_helpers import (
    ADA,
    BOB,
    CAROL,
    EVE,
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


async def test_fifty_shuffled_replies_thread_right_whatever_arrives_first(
    pool: asyncpg.Pool,
) -> None:
    """A thread of 50 (learners answering the post and each other, the tutor replying in
    between) delivered shuffled, in five overlapping batches of ten: many replies arrive before
    their parent. Each waits and is linked when its parent arrives, so every parent and root
    is right and each learner's answer is logged exactly once; nothing is left waiting."""
    rnd = random.Random(15)
    async with rig(pool) as h:
        await cohort_with_members(h)
        await group_say(h, TUTOR, "/coldcall 1.1", thread_id=THREAD, name="Tess")
        post = bot_posts(h)[-1]
        people = [(ADA, "Ada"), (BOB, "Bob"), (CAROL, "Carol"), (TUTOR, "Tess")]
        messages: list[dict] = []
        parent_of: dict[int, int | None] = {}  # telegram id → parent's telegram id (None: post)
        for i in range(50):
            parent = None if i < 3 or rnd.random() < 0.1 else rnd.choice(messages)["message_id"]
            who, name = people[i % 4]
            m = h.emu.push_message(
                who, f"Reply {i}", chat_id=GROUP, chat_type="supergroup", first_name=name,
                reply_to_message_id=parent or post.message_id, thread_id=THREAD,
                is_topic_message=True)
            messages.append(m)
            parent_of[m["message_id"]] = parent
        shuffled = messages[:]
        rnd.shuffle(shuffled)
        early = sum(1 for i, m in enumerate(shuffled) if parent_of[m["message_id"]] is not None
                    and parent_of[m["message_id"]] not in
                    {x["message_id"] for x in shuffled[:i]})
        assert early >= 10  # the test means something: many replies come before their parent
        updates = [{"update_id": h._next(), "message": m} for m in shuffled]
        batches = []
        for b in range(5):
            batches.append(asyncio.gather(*(h.feed(u) for u in updates[b * 10:(b + 1) * 10])))
            await asyncio.sleep(0.01)  # the next batch arrives while this one is handled
        await asyncio.gather(*batches)
        for u in updates[:7]:  # Telegram redelivers a few: nothing changes
            await h.feed(u)

        async with pool.acquire() as conn:
            rows = {r["telegram_message_id"]: r for r in await conn.fetch(
                "SELECT id, telegram_message_id, parent_id, root_id, post_id, is_tutor_reply "
                "FROM cold_call_messages")}
            waiting = await conn.fetchval("SELECT count(*) FROM cold_call_waiting_replies")
            events = await conn.fetch(
                "SELECT u.telegram_id, count(*) AS n, "
                "       count(*) FILTER (WHERE (e.payload->>'threaded')::boolean) AS threaded "
                "FROM learner_activity_events e JOIN users u ON u.id = e.user_id "
                "WHERE e.event_type = 'cold_call.reply' GROUP BY u.telegram_id")
            post_id = await conn.fetchval(
                "SELECT id FROM cold_call_posts WHERE telegram_message_id = $1", post.message_id)
        assert len(rows) == 50 and waiting == 0

        def root(tid: int) -> int:
            while parent_of[tid] is not None:
                tid = parent_of[tid]
            return tid

        for m in messages:
            row, parent = rows[m["message_id"]], parent_of[m["message_id"]]
            assert row["post_id"] == post_id
            assert row["is_tutor_reply"] == (m["from"]["id"] == TUTOR)
            if parent is None:
                assert row["parent_id"] is None and row["root_id"] is None, m["text"]
            else:
                assert row["parent_id"] == rows[parent]["id"], m["text"]
                assert row["root_id"] == rows[root(m["message_id"])]["id"], m["text"]
        expected: dict[int, tuple[int, int]] = {}
        for m in messages:
            uid = m["from"]["id"]
            if uid != TUTOR:
                n, t = expected.get(uid, (0, 0))
                expected[uid] = (n + 1, t + (parent_of[m["message_id"]] is not None))
        assert {e["telegram_id"]: (e["n"], e["threaded"]) for e in events} == expected
        async with pool.acquire() as conn:  # what /top counts as the post's answers
            cohort_id = await conn.fetchval("SELECT cohort_id FROM cold_call_posts")
            current = await coldcalls.current_prompt(conn, cohort_id)
        assert current is not None and current.answers == sum(n for n, _ in expected.values())


async def test_only_members_replies_in_the_cohort_thread_wait_and_not_for_ever(
    pool: asyncpg.Pool,
) -> None:
    """What waits for a parent is a member's reply in the cohort's thread, nothing else: an
    outsider's reply, a reply in another topic and a plain message are never kept, and what
    waited an hour for a parent that never came is forgotten by the pruning round."""
    from bot.workers.supervisor import prune_updates_round

    async with rig(pool) as h:
        await cohort_with_members(h)
        await group_say(h, TUTOR, "/coldcall 1.1", thread_id=THREAD, name="Tess")
        chatter = h.emu.push_message(EVE, "Anyone for lunch?", chat_id=GROUP,
                                     chat_type="supergroup", first_name="Eve",
                                     thread_id=THREAD, is_topic_message=True)
        sent = {}
        for who, name, thread in ((ADA, "Ada", THREAD), (EVE, "Eve", THREAD),
                                  (BOB, "Bob", THREAD + 1)):
            m = h.emu.push_message(who, "Me too", chat_id=GROUP, chat_type="supergroup",
                                   first_name=name, reply_to_message_id=chatter["message_id"],
                                   thread_id=thread, is_topic_message=True)
            await h.feed({"update_id": h._next(), "message": m})
            sent[who] = m
        # an edit reaches a reply where it waits
        await h.feed({"update_id": h._next(), "edited_message": {
            **sent[ADA], "text": "Me too!", "edit_date": 1}})
        async with pool.acquire() as conn:
            kept = await conn.fetch("SELECT user_id, body FROM cold_call_waiting_replies")
            assert len(kept) == 1 and kept[0]["body"] == "Me too!"  # Ada's, a member's
        assert h.emu.messages_to(EVE) == []  # a reply to chatter earns no "how to join"
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM cold_call_messages") == 0
            await conn.execute("UPDATE cold_call_waiting_replies "
                               "SET received_at = now() - interval '61 minutes'")
        await prune_updates_round(pool, 48)
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM cold_call_waiting_replies") == 0


def _reply(*, replied: dict, thread: int | None, topic: bool, date: int = 1_780_000_060
           ) -> Message:
    return Message.model_validate({
        "message_id": 900, "date": date, "text": "my answer",
        "chat": {"id": GROUP, "type": "supergroup", "title": "g"},
        "from": {"id": ADA, "is_bot": False, "first_name": "Ada"},
        "message_thread_id": thread, "is_topic_message": topic or None,
        "reply_to_message": {"chat": {"id": GROUP, "type": "supergroup", "title": "g"},
                             "date": 1_780_000_000, **replied},
    })


def test_which_replies_may_wait_for_their_parent() -> None:
    """In a group without topics a reply's thread id is the thread's first message — often the
    prompt post itself, whose confirmation the answer can overtake: such an answer waits. A
    forum topic's implicit reply to its first message, a reply to an old message or to some
    other bot, don't."""
    from bot.routers.coldcall import _may_wait

    bot_id = 4242
    post = {"message_id": 700, "from": {"id": bot_id, "is_bot": True, "first_name": "learnbot"}}
    plain = Cohort(uuid.uuid4(), uuid.uuid4(), "c", "C", "spring", GROUP, None, "x", True)
    forum = Cohort(uuid.uuid4(), uuid.uuid4(), "c", "C", "spring", GROUP, THREAD, "x", True)
    assert _may_wait(_reply(replied=post, thread=700, topic=False), plain, bot_id)
    assert _may_wait(_reply(replied=post, thread=THREAD, topic=True), forum, bot_id)
    topic_start = {"message_id": THREAD, "forum_topic_created": {"name": "t", "icon_color": 1},
                   "from": {"id": 1, "is_bot": False, "first_name": "T"}}
    assert not _may_wait(_reply(replied=topic_start, thread=THREAD, topic=True), forum, bot_id)
    implicit = {"message_id": THREAD, "from": {"id": 1, "is_bot": False, "first_name": "T"}}
    assert not _may_wait(_reply(replied=implicit, thread=THREAD, topic=True), forum, bot_id)
    other_bot = {"message_id": 701, "from": {"id": 99, "is_bot": True, "first_name": "quiz"}}
    assert not _may_wait(_reply(replied=other_bot, thread=700, topic=False), plain, bot_id)
    day_later = 1_780_000_000 + 86_400
    assert not _may_wait(_reply(replied=post, thread=700, topic=False, date=day_later), plain,
                         bot_id)
