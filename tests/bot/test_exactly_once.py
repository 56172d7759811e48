"""Exactly-once effects per update: the database connection is killed in the middle of update
N (after its first statement, before its commit); N is redelivered, as Telegram does after a
failure. Its effect (a broadcast draft) and its reply (the preview) happen exactly once, and a
third delivery of N is dropped. A bug in one update's handler leaves the others served."""

from __future__ import annotations

import asyncio

import asyncpg

from bot.middlewares.unit_of_work import UnitOfWorkMiddleware
from storage import broadcasts
from tests.helpers import DEMO, import_path, seed_enrolled
from tests.support.harness import ADMIN, Harness


def _command(h: Harness, update_id: int, user_id: int, text: str) -> dict:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(h.clock().timestamp()),
        "chat": {"id": user_id, "type": "private", "first_name": "A"},
        "from": {"id": user_id, "is_bot": False, "first_name": "A"},
        "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]}}


async def _drafts(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM broadcasts")


async def test_connection_killed_mid_update_then_redelivered_happens_once(
    harness: Harness, pool: asyncpg.Pool, monkeypatch,
) -> None:
    report = await import_path(pool, DEMO)
    await seed_enrolled(pool, report.course_id, 3)
    original = broadcasts.create_draft
    killed = []

    async def create_draft_then_lose_the_connection(conn, **kw):
        draft = await original(conn, **kw)  # the effect is written, not committed...
        if not killed:
            async with pool.acquire() as other:  # ...and the server drops the connection
                killed.append(await other.fetchval(
                    "SELECT pg_terminate_backend($1)", conn.get_server_pid()))
            await asyncio.sleep(0.2)  # the handler carries on meanwhile (an LLM, a render…)
        return draft

    monkeypatch.setattr(broadcasts, "create_draft", create_draft_then_lose_the_connection)
    update = _command(harness, 777, ADMIN, "/broadcast sql-basics Exam moved to Monday")
    await harness.feed(update)
    assert killed == [True]
    assert await _drafts(pool) == 0  # rolled back with the connection
    said = harness.texts_to(ADMIN)
    assert len(said) == 1 and "trouble" in said[0].lower()  # told to try again, no preview

    await harness.feed(update)  # Telegram delivers N again
    assert await _drafts(pool) == 1
    previews = [t for t in harness.texts_to(ADMIN) if "Broadcast to" in t]
    assert len(previews) == 1

    await harness.feed(update)  # and once more: already handled, dropped
    assert await _drafts(pool) == 1
    assert len(harness.texts_to(ADMIN)) == 2
    async with pool.acquire() as conn:
        assert await conn.fetchval(
            "SELECT count(*) FROM processed_updates WHERE update_id = 777") == 1


async def test_a_bug_in_one_handler_leaves_the_other_updates_served(
    harness: Harness, monkeypatch,
) -> None:
    learners = [7301, 7302, 7303]
    for who in learners:
        await harness.say(who, "/start")
    before = {who: len(harness.texts_to(who)) for who in learners}
    # a bug that hits one learner's update only (in the middleware's user load)
    from storage import users as users_store

    arrive = users_store.arrive

    async def buggy_arrive(conn, telegram_id, **kw):
        if telegram_id == 7302:
            raise ZeroDivisionError("a bug")
        return await arrive(conn, telegram_id, **kw)

    monkeypatch.setattr(users_store, "arrive", buggy_arrive)
    for who in learners:
        try:
            await harness.say(who, "/help")
        except ZeroDivisionError:
            assert who == 7302  # feed_raw_update re-raises; polling would log it and go on
    after = {who: len(harness.texts_to(who)) for who in learners}
    assert after[7301] == before[7301] + 1 and after[7303] == before[7303] + 1
    assert after[7302] == before[7302]


async def test_updates_arriving_together_are_each_answered_once(harness: Harness) -> None:
    """Updates handled at once share their first round trip (storage.uow.Arrivals): each is
    still answered once, for its own sender, and a redelivery among new ones is dropped."""
    (uow,) = [m for m in harness.dp.update.outer_middleware
              if isinstance(m, UnitOfWorkMiddleware)]
    learners = list(range(7501, 7511))
    updates = [_command(harness, 8000 + n, who, "/help") for n, who in enumerate(learners)]
    await asyncio.gather(*(harness.feed(u) for u in updates))
    assert uow.db.arrivals.batches < len(learners)
    assert all(len(harness.texts_to(who)) == 1 for who in learners)
    redelivered = updates[:5]
    new = [_command(harness, 8100 + n, who, "/help") for n, who in enumerate(learners[5:])]
    await asyncio.gather(*(harness.feed(u) for u in redelivered + new))
    assert [len(harness.texts_to(who)) for who in learners] == [1] * 5 + [2] * 5
    async with harness.pool.acquire() as conn:
        assert await conn.fetchval(
            "SELECT count(*) FROM users WHERE telegram_id BETWEEN 7501 AND 7510") == 10
        assert await conn.fetchval(
            "SELECT count(*) FROM processed_updates WHERE update_id >= 8000") == 15
