"""Cohorts, cold calls, tutors and broadcasts on real PostgreSQL: the invariants hold under
concurrency (one seat per invite, one star per person, different prompts for simultaneous
calls, disjoint broadcast claims) and across a takeover."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest

from storage import broadcasts, cohorts, coldcalls, pg, tutors
from storage.cohorts import MemberInput
from tests import factories as f
from tests.helpers import atomically

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


async def _cohort(conn: asyncpg.Connection, prompts: int = 2):
    course = await f.course(conn, "sql")
    topic = await f.topic(conn, course)
    for order in range(1, prompts + 1):
        await conn.execute(
            "INSERT INTO cold_call_prompts (course_id, topic_id, display_order, prompt) "
            "VALUES ($1, $2, $3, $4)", course, topic, order, f"Prompt {order}")
    cohort = await cohorts.create(conn, course, "spring")
    assert cohort is not None
    await atomically(conn, cohorts.link_chat, cohort.id, -100123, None)
    return await cohorts.get(conn, cohort.id), topic


async def test_invite_binds_once_and_survives_user_deletion(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        cohort, _ = await _cohort(conn)
        [row] = await cohorts.add_members(conn, cohort.id, [MemberInput("a@example.com")])
        users = [await f.user(conn) for _ in range(6)]

    async def bind(user):
        async with pool.acquire() as c:
            return await atomically(c, cohorts.bind_invite, row.invite_code, user, NOW)

    results = await asyncio.gather(*(bind(u) for u in users))
    outcomes = sorted(r.outcome for r in results)
    assert outcomes == ["joined"] + ["taken"] * 5
    winner = users[[r.outcome for r in results].index("joined")]
    async with pool.acquire() as conn:
        assert await cohorts.member_status(conn, cohort.id, winner) == "active"
        await conn.execute("DELETE FROM users WHERE id = $1", winner)
        member = await conn.fetchrow("SELECT email, user_id FROM cohort_members")
    assert member["email"] == "a@example.com" and member["user_id"] is None


async def test_simultaneous_cold_calls_get_different_prompts(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        cohort, topic = await _cohort(conn, prompts=3)
        tutor = await f.user(conn)

    async def call():
        async with pool.acquire() as c, c.transaction():  # the caller's unit of work
            return await coldcalls.start_post(c, cohort, topic, tutor)

    drafts = await asyncio.gather(*(call() for _ in range(3)))
    assert sorted(d.display_order for d in drafts) == [1, 2, 3]
    async with pool.acquire() as conn:
        again = await atomically(conn, coldcalls.start_post, cohort, topic, tutor)
        assert again and again.display_order == 1  # all used once: start over


async def test_replies_before_the_post_is_confirmed_wait_and_link_down_the_thread(
    pool: asyncpg.Pool,
) -> None:
    """Ada answers the post before its message id is confirmed, and Bob answers Ada: both
    wait; confirming the post links Ada's answer top-level and Bob's under it, once."""
    async with pool.acquire() as conn:
        cohort, topic = await _cohort(conn)
        tutor, ada, bob = [await f.user(conn) for _ in range(3)]
        draft = await atomically(conn, coldcalls.start_post, cohort, topic, tutor)
        for user, msg, to in ((bob, 12, 11), (ada, 11, 10)):
            async with conn.transaction():
                await coldcalls.lock_message(conn, -100123, to)
                assert await coldcalls.find_target(conn, -100123, to) is None
                assert await coldcalls.wait_for_parent(
                    conn, cohort_id=cohort.id, user_id=user, is_tutor=False, body=f"{msg}",
                    chat_id=-100123, telegram_message_id=msg, reply_to_message_id=to, at=NOW)
        async with conn.transaction():
            await coldcalls.confirm_post(conn, draft.post_id, 10)
            linked = await coldcalls.link_waiting(conn, -100123, 10)
        assert [(x.user_id, x.threaded) for x in linked] == [(ada, False), (bob, True)]
        async with conn.transaction():
            assert await coldcalls.link_waiting(conn, -100123, 10) == []
        rows = {r["telegram_message_id"]: r for r in await conn.fetch(
            "SELECT id, telegram_message_id, parent_id, root_id, post_id "
            "FROM cold_call_messages")}
        assert rows[11]["parent_id"] is None and rows[11]["post_id"] == draft.post_id
        assert rows[12]["parent_id"] == rows[12]["root_id"] == rows[11]["id"]
        assert await conn.fetchval("SELECT count(*) FROM cold_call_waiting_replies") == 0


async def test_a_reply_and_its_parent_at_the_same_instant_never_miss_each_other(
    pool: asyncpg.Pool,
) -> None:
    """Two processes: one stores Ada's answer (11) and looks for replies waiting on it, the
    other handles Bob's reply to it at the same time. The reply's look for its parent waits
    on the parent's slot, so it sees the parent once that commits instead of waiting for
    ever."""
    async with pool.acquire() as conn:
        cohort, topic = await _cohort(conn)
        tutor, ada = await f.user(conn), await f.user(conn)
        draft = await atomically(conn, coldcalls.start_post, cohort, topic, tutor)
        await coldcalls.confirm_post(conn, draft.post_id, 10)
    parent_linked = asyncio.Event()
    async with pool.acquire() as a, pool.acquire() as b:
        tx = a.transaction()
        await tx.start()
        post = await coldcalls.find_target(a, -100123, 10)
        assert post is not None
        await coldcalls.record_reply(a, post, user_id=ada, is_tutor=False, body="A",
                                     chat_id=-100123, telegram_message_id=11)
        assert await coldcalls.link_waiting(a, -100123, 11) == []  # holds 11's slot

        async def reply() -> coldcalls.ReplyTarget | None:
            async with b.transaction():
                await coldcalls.lock_message(b, -100123, 11)
                assert parent_linked.is_set()  # it waited for the parent's transaction
                return await coldcalls.find_target(b, -100123, 11)

        task = asyncio.create_task(reply())
        await asyncio.sleep(0.2)
        assert not task.done()
        parent_linked.set()
        await tx.commit()
        target = await task
    assert target is not None and target.kind == "message"


async def test_threads_and_stars(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        cohort, topic = await _cohort(conn)
        tutor, ada, bob = [await f.user(conn) for _ in range(3)]
        draft = await atomically(conn, coldcalls.start_post, cohort, topic, tutor)
        await coldcalls.confirm_post(conn, draft.post_id, 10)
        post = await coldcalls.find_target(conn, -100123, 10)
        assert post and post.kind == "post"
        a = await coldcalls.record_reply(conn, post, user_id=ada, is_tutor=False, body="A",
                                         chat_id=-100123, telegram_message_id=11)
        again = await coldcalls.record_reply(conn, post, user_id=ada, is_tutor=False, body="A",
                                             chat_id=-100123, telegram_message_id=11)
        assert a.created and not again.created and again.id == a.id  # a redelivered update
        to_a = await coldcalls.find_target(conn, -100123, 11)
        b = await coldcalls.record_reply(conn, to_a, user_id=bob, is_tutor=False, body="B",
                                         chat_id=-100123, telegram_message_id=12)
        to_b = await coldcalls.find_target(conn, -100123, 12)
        c = await coldcalls.record_reply(conn, to_b, user_id=ada, is_tutor=False, body="C",
                                         chat_id=-100123, telegram_message_id=13)
        rows = {r["id"]: r for r in await conn.fetch(
            "SELECT id, parent_id, root_id FROM cold_call_messages")}
        assert (rows[b.id]["parent_id"], rows[b.id]["root_id"]) == (a.id, a.id)
        assert (rows[c.id]["parent_id"], rows[c.id]["root_id"]) == (b.id, a.id)
        with pytest.raises(asyncpg.CheckViolationError):  # parent without root: refused
            await conn.execute(
                "UPDATE cold_call_messages SET root_id = NULL WHERE id = $1", c.id)

    async def star(on):
        async with pool.acquire() as conn, conn.transaction():
            return await coldcalls.set_star(conn, a.id, bob, on)

    results = await asyncio.gather(*(star(True) for _ in range(5)))
    assert sum(r.changed for r in results) == 1 and {r.stars for r in results} <= {1}
    async with pool.acquire() as conn:
        # toggles off, then on again
        assert (await atomically(conn, coldcalls.set_star, a.id, bob, None)).starred is False
        assert (await atomically(conn, coldcalls.set_star, a.id, bob, None)).starred is True
        assert (await atomically(conn, coldcalls.set_star, a.id, bob, False)).stars == 0
        top = await coldcalls.top_answers(conn, draft.post_id)
        assert top == []


async def test_tutor_access_is_per_course(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        sql, py = await f.course(conn, "sql2"), await f.course(conn, "py")
        u = await f.user(conn)
        assert await atomically(conn, tutors.grant_tutor, u, sql) is True
        assert await atomically(conn, tutors.grant_tutor, u, sql) is False
        await atomically(conn, tutors.grant_tutor, u, py)
        assert await conn.fetchval("SELECT role::text FROM users WHERE id=$1", u) == "tutor"
        assert await atomically(conn, tutors.revoke_tutor, u, sql) == 1
        assert not await tutors.is_course_tutor(conn, u, sql)
        assert await tutors.is_course_tutor(conn, u, py)
        assert await conn.fetchval("SELECT role::text FROM users WHERE id=$1", u) == "tutor"
        assert await atomically(conn, tutors.revoke_tutor, u) == 1
        assert await conn.fetchval("SELECT role::text FROM users WHERE id=$1", u) == "learner"
        assert await tutors.grant_admin(conn, u)
        await atomically(conn, tutors.grant_tutor, u, sql)
        assert await conn.fetchval("SELECT role::text FROM users WHERE id=$1", u) == "admin"
        assert await atomically(conn, tutors.revoke_admin, u)
        assert await conn.fetchval("SELECT role::text FROM users WHERE id=$1", u) == "tutor"


async def _broadcast(conn: asyncpg.Connection, n: int, owner: str = "A", lease: float = 60):
    course = await f.course(conn, "bc")
    admin = await f.user(conn)
    for i in range(n):
        u = await f.user(conn, is_reachable=i != 0)  # the first one is unreachable
        await conn.execute("INSERT INTO enrollments (user_id, course_id) VALUES ($1, $2)",
                           u, course)
    draft = await broadcasts.create_draft(conn, created_by=admin, target_kind="course",
                                          target_id=course, target_label="BC", body="Hi")
    total = await atomically(conn, broadcasts.start, draft.id, owner=owner, lease_seconds=lease,
                             progress_chat_id=1, progress_message_id=1)
    return draft.id, total


async def test_broadcast_claims_and_takeover(pool: asyncpg.Pool, db_url: str) -> None:
    async with pool.acquire() as conn:
        bid, total = await _broadcast(conn, 101)
        assert total == 100  # the unreachable learner is not an addressee
        assert await atomically(conn, broadcasts.start, bid, owner="A", lease_seconds=60,
                                progress_chat_id=1, progress_message_id=1) is None

    conns = [await pg.connect(db_url) for _ in range(3)]
    try:
        claims = await asyncio.gather(*(broadcasts.claim(c, bid, "A", limit=20, hold_seconds=60)
                                        for c in conns))
    finally:
        for c in conns:
            await c.close()
    claimed = [r.user_id for batch in claims for r in batch]
    assert len(claimed) == 60 and len(set(claimed)) == 60  # disjoint

    async with pool.acquire() as conn:
        first = claims[0]
        for r in first[:5]:
            assert await broadcasts.mark_sending(conn, bid, r.user_id, "A")
        assert not await broadcasts.mark_sending(conn, bid, first[5].user_id, "B")  # not owner
        for r in first[:3]:
            await broadcasts.mark_sent(conn, bid, r.user_id, 1)
        # A dies here: 2 rows in flight, 55 claimed but untouched, 40 never claimed.
        assert await atomically(conn, broadcasts.take_over, "B", 60) == []  # A's lease still runs
        await conn.execute("UPDATE broadcasts SET lease_until = now() - interval '1 second'")
        assert await atomically(conn, broadcasts.take_over, "B", 60) == [bid]
        assert not await broadcasts.mark_sending(conn, bid, first[6].user_id, "A")  # A is out
        counts = await broadcasts.counts(conn, bid)
        assert (counts.sent, counts.unconfirmed, counts.pending) == (3, 2, 95)
        rest = await broadcasts.claim(conn, bid, "B", limit=1000, hold_seconds=60)
        assert len(rest) == 95  # everything not sent or in flight, and nothing else
        for r in rest:
            assert await broadcasts.mark_sending(conn, bid, r.user_id, "B")
            if r is rest[0]:
                assert not await broadcasts.mark_retry(conn, bid, r.user_id, error="x",
                                                       delay_seconds=0, max_attempts=1)
            else:
                await broadcasts.mark_sent(conn, bid, r.user_id, 2)
        assert await broadcasts.finish(conn, bid, "B")
        counts = await broadcasts.counts(conn, bid)
        assert (counts.sent, counts.failed, counts.unconfirmed, counts.left) == (97, 1, 2, 0)


async def test_stopped_broadcast_sends_nothing_more(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        bid, _ = await _broadcast(conn, 5)
        [r, *_] = await broadcasts.claim(conn, bid, "A", limit=10, hold_seconds=60)
        assert await broadcasts.cancel(conn, bid) == "sending"
        assert not await broadcasts.mark_sending(conn, bid, r.user_id, "A")
        assert not await broadcasts.renew(conn, bid, "A", 60)
        assert await broadcasts.cancel(conn, bid) is None
