"""Units of work on a real PostgreSQL: bounded waits for a connection, and an update's
de-duplication record committing with its first effects."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from storage.uow import AlreadyHandled, Database, DatabaseBusy, RolledBack, UpdateWork

BOT = 42


async def _count(pool: asyncpg.Pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM processed_updates WHERE bot_id = $1", BOT)


async def test_exhausted_pool_raises_busy_instead_of_waiting_forever(
        pool: asyncpg.Pool) -> None:
    db = Database(pool, acquire_timeout=0.2)
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    try:
        with pytest.raises(DatabaseBusy):
            async with db.tx():
                pass
    finally:
        for conn in held:
            await pool.release(conn)
    async with db.tx() as conn:  # free again: works
        assert await conn.fetchval("SELECT 1") == 1


async def test_update_is_recorded_with_its_first_effects(pool: asyncpg.Pool) -> None:
    db = Database(pool)
    work = UpdateWork(db, BOT, 1)
    async with work.tx() as conn:
        await conn.execute("CREATE TABLE effects (n int)")
        await conn.execute("INSERT INTO effects VALUES (1)")
    async with work.tx() as conn:  # a second unit of the same update is not refused
        await conn.execute("INSERT INTO effects VALUES (2)")
    assert work.recorded and await _count(pool) == 1
    twin = UpdateWork(db, BOT, 1)  # the redelivery
    assert await twin.seen()
    with pytest.raises(AlreadyHandled):
        async with twin.tx() as conn:
            await conn.execute("INSERT INTO effects VALUES (3)")
    assert await pool.fetchval("SELECT count(*) FROM effects") == 2


async def test_failed_update_is_not_recorded_and_is_handled_again(pool: asyncpg.Pool) -> None:
    db = Database(pool)
    await pool.execute("CREATE TABLE effects (n int)")
    work = UpdateWork(db, BOT, 7)
    with pytest.raises(RuntimeError):
        async with work.tx() as conn:
            await conn.execute("INSERT INTO effects VALUES (1)")
            raise RuntimeError("the handler crashed mid-update")
    assert not work.recorded and await _count(pool) == 0
    again = UpdateWork(db, BOT, 7)
    assert not await again.seen()
    async with again.tx() as conn:
        await conn.execute("INSERT INTO effects VALUES (1)")
    assert await pool.fetchval("SELECT count(*) FROM effects") == 1
    assert await _count(pool) == 1


async def test_an_update_whose_transaction_a_caught_error_aborted_stays_unrecorded(
        pool: asyncpg.Pool) -> None:
    db = Database(pool)
    await pool.execute("CREATE TABLE effects (n int)")
    work = UpdateWork(db, BOT, 11)
    with pytest.raises(RolledBack):
        async with work.tx() as conn:
            await conn.execute("INSERT INTO effects VALUES (1)")
            with pytest.raises(asyncpg.PostgresError):
                await conn.execute("SELECT 1 / 0")  # caught: the caller goes on
    assert not work.recorded and await _count(pool) == 0
    assert not await UpdateWork(db, BOT, 11).seen()  # its redelivery is handled again
    assert await pool.fetchval("SELECT count(*) FROM effects") == 0


async def test_update_without_effects_is_recorded_after_it_is_handled(
        pool: asyncpg.Pool) -> None:
    work = UpdateWork(Database(pool), BOT, 9)
    await work.record()
    assert await UpdateWork(Database(pool), BOT, 9).seen()


async def test_an_update_unit_is_a_transaction_at_its_isolation(pool: asyncpg.Pool) -> None:
    """Its BEGIN goes out with the record (one message), not through asyncpg's
    `transaction()`: still a transaction to `require_tx`, at the level asked for, and its
    effects roll back with it."""
    await pool.execute("CREATE TABLE effects (n int)")
    work = UpdateWork(Database(pool), BOT, 11)
    with pytest.raises(RuntimeError):
        async with work.tx("serializable") as conn:
            assert conn.is_in_transaction()
            assert await conn.fetchval("SHOW transaction_isolation") == "serializable"
            await conn.execute("INSERT INTO effects VALUES (1)")
            raise RuntimeError
    async with pool.acquire() as conn:  # given back clean
        assert not conn.is_in_transaction()
    assert await pool.fetchval("SELECT count(*) FROM effects") == 0 and await _count(pool) == 0


async def test_updates_that_changed_nothing_are_recorded_together(pool: asyncpg.Pool) -> None:
    """Records that come in together share one statement, and each `record()` returns only
    once its own is committed."""
    db = Database(pool)
    works = [UpdateWork(db, BOT, n) for n in range(100, 140)]
    await asyncio.gather(*(w.record() for w in works))
    assert all(w.recorded for w in works) and await _count(pool) == 40
    await UpdateWork(db, BOT, 100).record()  # a repeat is no error
    assert await _count(pool) == 40


async def test_a_failed_batch_of_records_fails_each_of_its_updates(pool: asyncpg.Pool) -> None:
    db = Database(pool, acquire_timeout=0.2)
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    try:
        works = [UpdateWork(db, BOT, n) for n in (200, 201)]
        results = await asyncio.gather(*(w.record() for w in works), return_exceptions=True)
    finally:
        for conn in held:
            await pool.release(conn)
    assert all(isinstance(r, DatabaseBusy) for r in results)
    assert not any(w.recorded for w in works) and await _count(pool) == 0
    await works[0].record()  # the next batch goes through
    assert await _count(pool) == 1
