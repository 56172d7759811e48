"""Autocommit reads grouped across the updates in flight (`storage.reads`), on a real
PostgreSQL: each caller gets exactly its own rows, in the statement's order, concurrent calls
share round trips, a statement that fails for one caller fails that caller only, and the rows
read like asyncpg's."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from storage import pages
from storage.batching import MAX_BATCH
from storage.reads import READ_LANES
from storage.uow import Database

# generate_series counts up: only the ORDER BY puts the rows in the order the tests expect
SERIES = "SELECT g AS n, $2::text AS tag FROM generate_series(1, $1::int) AS g ORDER BY g DESC"


async def test_concurrent_calls_get_their_own_rows_in_order_in_fewer_round_trips(
        pool: asyncpg.Pool) -> None:
    db = Database(pool)
    sizes = [n % 5 for n in range(40)]  # 0 to 4 rows per call, some calls with none
    results = await asyncio.gather(*(db.reads.fetch(SERIES, size, f"c{i}")
                                     for i, size in enumerate(sizes)))
    group = db.reads._statements[SERIES]
    assert group.batches < len(sizes) // 2  # grouped, not one round trip each
    for i, (size, rows) in enumerate(zip(sizes, results, strict=True)):
        assert [r["n"] for r in rows] == list(range(size, 0, -1))
        assert all(r["tag"] == f"c{i}" for r in rows)
        # the grouping column is not part of the row
        assert all(list(r.keys()) == ["n", "tag"] and len(r) == 2 for r in rows)


async def test_fetchrow_gets_each_callers_first_row_of_the_statements_order(
        pool: asyncpg.Pool) -> None:
    db = Database(pool)
    sizes = [n % 4 for n in range(20)]
    rows = await asyncio.gather(*(db.reads.fetchrow(SERIES, size, f"c{i}")
                                  for i, size in enumerate(sizes)))
    assert [None if r is None else (r["n"], r["tag"]) for r in rows] == [
        None if size == 0 else (size, f"c{i}") for i, size in enumerate(sizes)]
    assert await db.reads.fetchval(SERIES, 3, "alone") == 3  # alone too
    # grouped, each call's statement cut to its first row: none of the others is sent
    group = db.reads._first_rows[SERIES]
    assert group.batches < len(sizes) // 2 and group._body.endswith("LIMIT 1")


async def test_a_call_alone_is_its_own_statement(pool: asyncpg.Pool) -> None:
    db = Database(pool)
    rows = await db.reads.fetch(SERIES, 2, "alone")
    assert [tuple(r) for r in rows] == [(2, "alone"), (1, "alone")]
    assert db.reads._statements[SERIES].batches == 1


async def test_grouped_rows_read_like_records(pool: asyncpg.Pool) -> None:
    db = Database(pool)
    rows = await asyncio.gather(*(db.reads.fetchrow(SERIES, 1, f"t{i}") for i in range(6)))
    row = rows[3]
    assert row[0] == 1 and row["tag"] == "t3" and row.get("tag") == "t3"
    assert row.get("batch_call") is None and "batch_call" not in row
    with pytest.raises(KeyError):
        row["batch_call"]
    assert dict(row) == {"n": 1, "tag": "t3"}
    vals = await asyncio.gather(*(db.reads.fetchval(SERIES, 1, f"v{i}", column=1)
                                  for i in range(6)))
    assert vals == [f"v{i}" for i in range(6)]
    assert await db.reads.fetchrow(SERIES, 0, "none") is None


async def test_a_statement_that_fails_for_one_caller_fails_that_caller_only(
        pool: asyncpg.Pool) -> None:
    db = Database(pool)
    query = "SELECT 10 / $1::int AS q"
    divisors = [1, 2, 0, 5, 10]
    results = await asyncio.gather(*(db.reads.fetchval(query, d) for d in divisors),
                                   return_exceptions=True)
    assert isinstance(results[2], asyncpg.DivisionByZeroError)
    assert [r for i, r in enumerate(results) if i != 2] == [10, 5, 2, 1]


async def test_a_cancelled_caller_leaves_the_others_their_rows(pool: asyncpg.Pool) -> None:
    db = Database(pool)
    # submitted in one turn of the loop: one group, on its way when one caller gives up
    calls = [asyncio.create_task(db.reads.fetch(SERIES, 3, f"k{i}")) for i in range(5)]
    group = db.reads._group(SERIES)
    for _ in range(100):  # until the group has left (its requests taken off the queue)
        await asyncio.sleep(0)
        if group.batches:
            break
    assert group.batches == 1 and not group._next
    calls[1].cancel()
    done = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(done[1], asyncio.CancelledError)
    assert all([r["tag"] for r in rows] == [f"k{i}"] * 3
               for i, rows in enumerate(done) if i != 1)
    assert db.reads._statements[SERIES].batches == 1


async def test_pages_read_through_a_group(pool: asyncpg.Pool) -> None:
    db = Database(pool)
    async with db.tx() as conn:
        await pages.put(conn, "help", "custom help")
    got = await asyncio.gather(*(pages.get(db.reads, s) for s in ["help", "welcome"] * 5))
    assert got == ["custom help", None] * 5


async def test_calls_one_after_another_each_get_a_group(pool: asyncpg.Pool) -> None:
    db = Database(pool)
    # each call comes in right as the previous group's flusher finishes: none may be stranded
    for i in range(5):
        assert await asyncio.wait_for(db.reads.fetchval("SELECT $1::int", i), 10) == i
    assert db.reads._first_rows["SELECT $1::int"].batches == 5


async def test_two_groups_of_a_slow_statement_run_at_once(pool: asyncpg.Pool) -> None:
    db = Database(pool)
    slow = "SELECT pg_sleep($1::float) IS NOT NULL AS slept"
    calls = [asyncio.create_task(db.reads.fetchval(slow, 0.6))]
    await asyncio.sleep(0.1)  # the first is on its way; these come in meanwhile
    calls += [asyncio.create_task(db.reads.fetchval(slow, 0.6)) for _ in range(3)]
    await asyncio.sleep(0.2)
    running = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE "
        "'%pg_sleep($1::float)%' AND pid <> pg_backend_pid()")
    assert READ_LANES == 2
    assert running == 2  # a server process per group on its way, not one for all
    assert await asyncio.gather(*calls) == [True] * 4
    assert db.reads._first_rows[slow].batches == 2  # the first alone, the others together


async def test_a_statement_that_cannot_be_grouped_still_answers_each_call(
        pool: asyncpg.Pool) -> None:
    db = Database(pool)
    await pool.execute("CREATE TABLE read_probe (x int)")
    # not a plain SELECT: the grouping wrapper is refused, so the calls go one by one
    query = "INSERT INTO read_probe VALUES ($1) RETURNING x * 10 AS y"
    got = await asyncio.gather(*(db.reads.fetchval(query, i) for i in range(6)))
    assert got == [i * 10 for i in range(6)]
    assert not db.reads._first_rows[query].groupable
    assert sorted(await pool.fetch("SELECT x FROM read_probe")) == [(i,) for i in range(6)]


async def test_a_statement_with_a_trailing_semicolon_or_comment_is_grouped(
        pool: asyncpg.Pool) -> None:
    db = Database(pool)
    for n, query in enumerate(["SELECT $1::int + 1 AS y;\n", "SELECT $1::int + 2 AS y -- more"]):
        got = await asyncio.gather(*(db.reads.fetchval(query, i) for i in range(6)))
        assert got == [i + 1 + n for i in range(6)]
        assert db.reads._first_rows[query].groupable
        assert db.reads._first_rows[query].batches < 6


async def test_a_lane_whose_flusher_was_cancelled_before_it_ran_is_freed(
        pool: asyncpg.Pool) -> None:
    db = Database(pool)  # records: one lane
    first = asyncio.create_task(db.records.add(42, 1))
    await asyncio.sleep(0)  # submitted: its flusher is created, not yet run
    for flusher in list(db.records._flushers):
        flusher.cancel()
    await asyncio.sleep(0)
    async with asyncio.timeout(10):  # a lane still taken would leave both waiting
        await db.records.add(42, 2)
        await first
    assert await pool.fetchval("SELECT count(*) FROM processed_updates") == 2


async def test_a_group_holds_at_most_max_batch_calls(pool: asyncpg.Pool) -> None:
    db = Database(pool)
    n = 2 * MAX_BATCH + 44
    got = await asyncio.gather(*(db.reads.fetchval("SELECT $1::int * 2", i) for i in range(n)))
    assert got == [i * 2 for i in range(n)]
    assert db.reads._first_rows["SELECT $1::int * 2"].batches >= 3
