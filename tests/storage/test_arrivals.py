"""Each update's first round trip (`users.arrive`: repeat check and sender upsert), grouped
across the updates that arrive together (`storage.uow.Arrivals`), on a real PostgreSQL: every
update still gets its own answer, concurrent ones share round trips, a failure stays with the
updates it concerns, and a waiter that gives up takes nobody down with it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from storage.uow import Database, DatabaseBusy, UpdateWork
from storage.users import User
from tests.helpers import import_path, seed_learners, tiny_course

BOT = 42
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _fields(name: str, **extra: Any) -> dict[str, Any]:
    return {"display_name": name, "username": None, "default_timezone": "UTC",
            "default_hour": 9, "now": NOW, **extra}


async def _arrive(db: Database, update_id: int, telegram_id: int, name: str | None = None,
                  **extra: Any) -> tuple[bool, User | None]:
    work = UpdateWork(db, BOT, update_id)
    return await work.arrive(telegram_id, **_fields(name or f"L{telegram_id}", **extra))


async def _lapsed_learners(pool: asyncpg.Pool, tmp_path: Path, n: int, *, base: int) -> None:
    """`n` learners (telegram ids base+1 …) enrolled in a small course, all lapsed."""
    report = await import_path(pool, tiny_course(tmp_path / "c"), now=NOW)
    await seed_learners(pool, report.course_id, n, base=base)
    await pool.execute("UPDATE course_users SET lapsed_at = $1", NOW)


async def _until_waiting_on_a_lock(pool: asyncpg.Pool) -> None:
    for _ in range(50):
        await asyncio.sleep(0.02)
        if await pool.fetchval("SELECT count(*) FROM pg_stat_activity "
                               "WHERE wait_event_type = 'Lock'"):
            return
    pytest.fail("the arrival never reached the locked row")


async def _users(pool: asyncpg.Pool) -> dict[int, str]:
    rows = await pool.fetch("SELECT telegram_id, display_name FROM users")
    return {r["telegram_id"]: r["display_name"] for r in rows}


async def test_concurrent_arrivals_each_get_their_sender_in_fewer_round_trips(
        pool: asyncpg.Pool) -> None:
    db = Database(pool)
    # Thirty learners write at once, in no particular order of their ids.
    ids = [9000 + (n * 7) % 30 for n in range(30)]
    results = await asyncio.gather(*(_arrive(db, 100 + n, tid) for n, tid in enumerate(ids)))
    assert db.arrivals.batches < len(ids) // 2  # grouped, not one round trip each
    for tid, (seen, user) in zip(ids, results, strict=True):
        assert not seen and user is not None
        assert user.telegram_id == tid and user.display_name == f"L{tid}"
    assert await _users(pool) == {tid: f"L{tid}" for tid in ids}
    # Each came back with its own row: the ids are the database's, one per learner.
    assert len({user.id for _, user in results}) == len(ids)


async def test_an_arrival_alone_goes_out_at_once(pool: asyncpg.Pool) -> None:
    db = Database(pool)
    seen, user = await _arrive(db, 1, 9100)
    assert not seen and user is not None and user.telegram_id == 9100
    assert db.arrivals.batches == 1


async def test_the_same_sender_twice_in_one_batch(pool: asyncpg.Pool) -> None:
    """The statements of a batch run in order: the second update of a learner new to the bot
    finds the row the first created (one user, not a conflict), and renames it."""
    db = Database(pool)
    results = await asyncio.gather(
        _arrive(db, 1, 9201, "First name"),
        _arrive(db, 2, 9200),
        _arrive(db, 3, 9201, "Second name", make_admin=True))
    assert db.arrivals.batches == 1
    (_, first), (_, other), (_, second) = results
    assert first is not None and other is not None and second is not None
    assert first.id == second.id and first.display_name == "First name"
    assert second.display_name == "Second name" and second.is_admin and not first.is_admin
    assert other.telegram_id == 9200
    assert await _users(pool) == {9200: "L9200", 9201: "Second name"}


async def test_a_redelivered_update_is_seen_among_new_ones(pool: asyncpg.Pool) -> None:
    db = Database(pool)
    await UpdateWork(db, BOT, 7).record()  # update 7 was handled before
    results = await asyncio.gather(_arrive(db, 6, 9301), _arrive(db, 7, 9302),
                                   _arrive(db, 8, 9303))
    assert [seen for seen, _ in results] == [False, True, False]
    assert results[1][1] is None
    assert set(await _users(pool)) == {9301, 9303}  # the repeat's sender wasn't touched


async def test_lapsed_learners_arriving_together_are_welcomed_back(
        pool: asyncpg.Pool, tmp_path: Path) -> None:
    await _lapsed_learners(pool, tmp_path, 3, base=9400)
    db = Database(pool)
    await asyncio.gather(*(_arrive(db, n, 9400 + n) for n in (1, 2, 3)))
    assert db.arrivals.batches == 1
    assert await pool.fetchval(
        "SELECT count(*) FROM course_users WHERE lapsed_at IS NOT NULL") == 0
    assert await pool.fetchval(
        "SELECT count(*) FROM learner_activity_events "
        "WHERE event_type = 'course.welcome_back'") == 3


async def test_a_batch_without_a_connection_fails_each_of_its_updates(
        pool: asyncpg.Pool) -> None:
    db = Database(pool, acquire_timeout=0.2)
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    try:
        results = await asyncio.gather(*(_arrive(db, n, 9500 + n) for n in range(6)),
                                       return_exceptions=True)
    finally:
        for conn in held:
            await pool.release(conn)
    assert all(isinstance(r, DatabaseBusy) for r in results)
    assert db.arrivals.batches < 6  # some shared a batch, and yet
    # each update has an error of its own: one raised in several tasks would get its
    # traceback rewritten by each
    assert len({id(r) for r in results}) == 6
    assert await _users(pool) == {}  # nothing of the batch was written
    assert await pool.fetchval("SELECT count(*) FROM processed_updates") == 0
    seen, user = await _arrive(db, 1, 9500)  # the next batch goes through
    assert not seen and user is not None


async def test_a_statement_refused_in_a_batch_fails_its_update_only(pool: asyncpg.Pool) -> None:
    """One row breaking a CHECK rolls the batch's implicit transaction back; run again each
    alone, the others get their senders and only the refused update sees the error."""
    db = Database(pool)
    results = await asyncio.gather(
        _arrive(db, 1, 9601), _arrive(db, 2, 9602, locale="not a language tag"),
        _arrive(db, 3, 9603), return_exceptions=True)
    assert db.arrivals.batches == 1
    assert isinstance(results[1], asyncpg.CheckViolationError)
    assert [user.telegram_id for _, user in (results[0], results[2])] == [9601, 9603]
    assert await _users(pool) == {9601: "L9601", 9603: "L9603"}


async def test_a_cancelled_waiter_leaves_the_batch_to_the_others(pool: asyncpg.Pool) -> None:
    """The batch is in flight (blocked on a learner's row another transaction holds) when one
    of its updates gives up: the others still get their senders, and later batches run."""
    db = Database(pool)
    for tid in (9701, 9702, 9703):
        await _arrive(db, tid, tid)
    async with pool.acquire() as blocker:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("SELECT 1 FROM users WHERE telegram_id = 9701 FOR UPDATE")
        # Renamed learners: each statement writes its row, the first waits for the lock.
        tasks = [asyncio.create_task(_arrive(db, 10 + n, tid, f"New {tid}"))
                 for n, tid in enumerate((9701, 9702, 9703))]
        await _until_waiting_on_a_lock(pool)
        tasks[1].cancel()
        await tx.rollback()
    async with asyncio.timeout(10):  # a batch that lost its way would leave them hanging
        done = await asyncio.gather(*tasks, return_exceptions=True)
        seen, user = await _arrive(db, 20, 9704)
    assert isinstance(done[1], asyncio.CancelledError)
    assert [got[1].display_name for got in (done[0], done[2])] == ["New 9701", "New 9703"]
    assert not seen and user is not None


async def test_a_batch_waiting_on_a_locked_learner_does_not_hold_up_the_others(
        pool: asyncpg.Pool) -> None:
    """Another transaction holds one learner's row: that learner's arrival waits, while
    other learners' updates that come in meanwhile are served in the next lane."""
    db = Database(pool)
    await _arrive(db, 1, 9801)
    async with pool.acquire() as blocker:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("SELECT 1 FROM users WHERE telegram_id = 9801 FOR UPDATE")
        stuck = asyncio.create_task(_arrive(db, 2, 9801, "Renamed"))
        await _until_waiting_on_a_lock(pool)
        async with asyncio.timeout(10):  # one lane only: these would wait for the lock
            others = await asyncio.gather(*(_arrive(db, 10 + n, 9810 + n) for n in range(5)))
        assert [user.telegram_id for _, user in others] == [9810 + n for n in range(5)]
        assert not stuck.done()
        await tx.rollback()
    seen, user = await stuck
    assert not seen and user is not None and user.display_name == "Renamed"


async def test_a_refused_batch_run_again_welcomes_each_lapsed_learner_back_once(
        pool: asyncpg.Pool, tmp_path: Path) -> None:
    """The batch's welcome-backs roll back with it; run again one by one, each happens once."""
    await _lapsed_learners(pool, tmp_path, 2, base=9900)
    db = Database(pool)
    results = await asyncio.gather(
        _arrive(db, 1, 9901), _arrive(db, 2, 9999, locale="not a language tag"),
        _arrive(db, 3, 9902), return_exceptions=True)
    assert db.arrivals.batches == 1
    assert isinstance(results[1], asyncpg.CheckViolationError)
    assert await pool.fetchval(
        "SELECT count(*) FROM course_users WHERE lapsed_at IS NOT NULL") == 0
    assert await pool.fetchval(
        "SELECT count(*) FROM learner_activity_events "
        "WHERE event_type = 'course.welcome_back'") == 2
