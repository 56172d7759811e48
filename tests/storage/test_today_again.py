"""`/today` asked again is one statement (`storage.day.today_again`), grouped with the other
updates' (`storage.uow.Recordings`): on a real PostgreSQL it must show exactly what the unit
of work's path (`today_of_user`) shows, through weeks of a learner who skips days, forgets
Done and fails quizzes; change nothing when the day needs more than showing; record its
update once; and keep a refused call's error to that call."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from storage import enrollments, quiz
from storage.day import today_again, today_of_user
from storage.done import mark_done
from storage.uow import AlreadyHandled, Database, UpdateWork
from tests import factories as f
from tests.helpers import atomically, import_path, quiz_course, tiny_course

BOT = 42
T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)

# What the day's statements may write; a `today_again` that says "needs more" leaves it all.
_STATE = """
    SELECT (SELECT coalesce(json_agg(p ORDER BY p.update_id), '[]') FROM processed_updates p),
           (SELECT coalesce(json_agg(t ORDER BY t.topic_id), '[]') FROM topic_progress t),
           (SELECT coalesce(json_agg(d ORDER BY d.id), '[]') FROM journey_deliveries d),
           (SELECT coalesce(json_agg(c ORDER BY c.id), '[]') FROM course_users c)
"""

# The topics' clocks (see `storage.done`): restarted by an opening after Done, each counting an
# attempt.
_CLOCKS = """SELECT topic_id, opened_at, attempts FROM topic_progress WHERE user_id = $1
             ORDER BY topic_id"""


async def _learners(pool: asyncpg.Pool, tmp_path: Path):
    """One learner in a three-module course and a course with a quiz between its modules,
    one in a longer course only; and the quiz course's id."""
    tiny = await import_path(pool, tiny_course(tmp_path / "t", topics=2, modules=3), now=T0)
    longer = await import_path(pool, tiny_course(tmp_path / "l", slug="long", topics=3,
                                                 modules=6), now=T0)
    quizzed = await import_path(pool, quiz_course(tmp_path / "q"), now=T0)
    learners = []
    async with pool.acquire() as conn:
        for zone, courses in (("Asia/Manila", (tiny, quizzed)), ("America/Chicago", (longer,))):
            user = await f.user(conn, timezone=zone, delivery_hour=8)
            for course in courses:
                await atomically(conn, enrollments.enroll, user, course.course_id, T0)
            learners.append(user)
    return learners, quizzed.course_id


async def test_asked_again_the_day_shows_what_the_unit_of_work_shows(
        pool: asyncpg.Pool, tmp_path: Path) -> None:
    learners, quiz_course_id = await _learners(pool, tmp_path)
    db = Database(pool)
    rng = random.Random(12)
    update_ids = iter(range(1, 10_000))
    fast = needs_more = 0
    around = set()  # what the fast path's days held besides their journey
    for user in learners:
        fast, needs_more = await _walk(db, pool, rng, update_ids, user, quiz_course_id, around,
                                       fast, needs_more)
    # both paths were walked, through days with more than one thing open
    assert fast >= 25 and needs_more >= 10, (fast, needs_more)
    assert around >= {"open", "missing", "quiz"}, around


async def _walk(db, pool, rng, update_ids, user, quiz_course_id, around, fast, needs_more):
    now = T0
    for _ in range(30):  # thirty days, at a different hour each
        now = now.replace(hour=0) + timedelta(days=1, hours=rng.randrange(0, 24),
                                              minutes=rng.randrange(60))
        async with pool.acquire() as conn:
            before = await conn.fetchrow(_STATE)
        work = UpdateWork(db, BOT, next(update_ids))
        shown = await today_again(work, user, now)
        if shown is None:
            needs_more += 1
            async with pool.acquire() as conn:
                assert await conn.fetchrow(_STATE) == before, "a 'needs more' changed something"
            assert not work.recorded
        if rng.random() < 0.25:
            continue  # a day skipped: the day's journey is never opened
        async with pool.acquire() as conn:
            day = await atomically(conn, today_of_user, user, now)
        for later in (1, 7, 50):  # asked again, a few times that day, around a Done
            at = now + timedelta(minutes=later)
            if later == 7:
                await _done_on_some(pool, rng, user, day, now + timedelta(minutes=5))
            work = UpdateWork(db, BOT, next(update_ids))
            shown = await today_again(work, user, at)
            async with pool.acquire() as conn:
                clocks = await conn.fetch(_CLOCKS, user)
                expected = await atomically(conn, today_of_user, user, at)
                # what opening the day does to the topics' clocks, the statement did already
                if shown is not None:
                    assert await conn.fetch(_CLOCKS, user) == clocks
            if shown is None:
                needs_more += 1
                continue
            fast += 1
            assert work.recorded
            for _cu, r in shown:
                around.update(name for name, held in (
                    ("open", r.open), ("missing", r.missing), ("quiz", r.quiz_module)) if held)
            assert [(dict(cu)["course_id"], dict(cu)["title"], r) for cu, r in shown] == \
                [(cu["course_id"], cu["title"], r) for cu, r in expected]
        if rng.random() < 0.3:  # a quiz tried, and failed or passed
            async with pool.acquire() as conn:
                started = await atomically(conn, quiz.start, user, quiz_course_id, 1, now)
                if started.attempt:
                    for i in range(2):
                        await atomically(conn, quiz.answer, started.attempt.id, user, i,
                                         rng.randrange(2), now)
    return fast, needs_more


async def _done_on_some(pool, rng, user, day, at):
    for _cu, result in day:
        jv = result.view
        if jv is not None and jv.taken and not jv.completed and rng.random() < 0.6:
            async with pool.acquire() as conn:  # Done on some, forgotten on others
                await atomically(conn, mark_done, jv.delivery_id, user, at)


async def test_asked_again_records_the_update_once(pool: asyncpg.Pool, tmp_path: Path) -> None:
    user = (await _learners(pool, tmp_path))[0][1]
    async with pool.acquire() as conn:
        await atomically(conn, today_of_user, user, T0 + timedelta(hours=3))
    db = Database(pool)
    first = UpdateWork(db, BOT, 77)
    shown = await today_again(first, user, T0 + timedelta(hours=4))
    assert shown and first.recorded
    # The same update delivered again (by a process that missed the first's arrival check)
    with pytest.raises(AlreadyHandled):
        await today_again(UpdateWork(db, BOT, 77), user, T0 + timedelta(hours=4))
    assert await pool.fetchval("SELECT count(*) FROM processed_updates WHERE update_id = 77") == 1
    # a second unit of the same update, already recorded, writes no second record
    assert await today_again(first, user, T0 + timedelta(hours=5))


# A statement keeping the `recording` contract (one array per parameter over the calls: $1
# its own argument, $2/$3 the records, $4 the calls). Dividing by $1 makes one call fail on
# the server, as a refused statement does.
_DIVIDE = """
    WITH i AS (SELECT * FROM unnest($1::int[], $2::bigint[], $3::bigint[], $4::int[])
               AS i(d, bot_id, update_id, call)),
    rec AS (
        INSERT INTO processed_updates (bot_id, update_id)
        SELECT bot_id, update_id FROM i WHERE bot_id IS NOT NULL
        ON CONFLICT DO NOTHING RETURNING update_id)
    SELECT 100 / i.d AS q, i.update_id IN (SELECT update_id FROM rec) AS _recorded,
           i.call AS _call
    FROM i
"""


async def test_recordings_share_round_trips_and_a_refused_call_fails_alone(
        pool: asyncpg.Pool) -> None:
    db = Database(pool)
    works = [UpdateWork(db, BOT, 500 + n) for n in range(40)]
    divisors = [0 if n == 17 else n + 1 for n in range(40)]
    results = await asyncio.gather(*(w.recording(_DIVIDE, d) for w, d in zip(
        works, divisors, strict=True)), return_exceptions=True)
    for n, (work, result) in enumerate(zip(works, results, strict=True)):
        if n == 17:
            assert isinstance(result, asyncpg.DivisionByZeroError)
            assert not work.recorded
        else:
            assert not isinstance(result, BaseException), result
            assert [r["q"] for r in result] == [100 // (n + 1)] and work.recorded
    assert db.recordings[_DIVIDE].batches < 40  # grouped
    recorded = {r[0] for r in await pool.fetch(
        "SELECT update_id FROM processed_updates WHERE update_id BETWEEN 500 AND 539")}
    assert recorded == {500 + n for n in range(40) if n != 17}


async def test_one_update_twice_in_a_batch_goes_on_once(pool: asyncpg.Pool,
                                                        tmp_path: Path) -> None:
    learners, _ = await _learners(pool, tmp_path)
    at = T0 + timedelta(hours=4)
    async with pool.acquire() as conn:
        for user in learners:
            await atomically(conn, today_of_user, user, T0 + timedelta(hours=3))
    db = Database(pool)
    # twins of update 90 (one learner), and the other learner twice with two updates: all in
    # flight together, so they share batches
    calls = [(90, learners[0]), (90, learners[0]), (91, learners[1]), (92, learners[1])]
    works = [UpdateWork(db, BOT, update_id) for update_id, _ in calls]
    results = await asyncio.gather(*(today_again(w, user, at) for w, (_, user) in zip(
        works, calls, strict=True)), return_exceptions=True)
    twins = results[:2]
    assert sum(isinstance(r, AlreadyHandled) for r in twins) == 1, twins
    assert all(r for r in twins if not isinstance(r, AlreadyHandled))
    assert all(isinstance(r, list) and r for r in results[2:]), results[2:]
    assert [w.recorded for w in works[2:]] == [True, True]
    assert await pool.fetchval("SELECT count(*) FROM processed_updates "
                               "WHERE update_id IN (90, 91, 92)") == 3
    assert db.recordings[next(iter(db.recordings))].batches < 4  # grouped


# Sleeps the longest of its calls' $1 seconds, then records them (the `recording` contract).
_SLEEPY = """
    WITH i AS (SELECT * FROM unnest($1::float8[], $2::bigint[], $3::bigint[], $4::int[])
               AS i(s, bot_id, update_id, call)),
    slept AS (SELECT pg_sleep(max(s)) FROM i),
    rec AS (
        INSERT INTO processed_updates (bot_id, update_id)
        SELECT bot_id, update_id FROM i, slept WHERE bot_id IS NOT NULL
        ON CONFLICT DO NOTHING RETURNING update_id)
    SELECT i.update_id IN (SELECT update_id FROM rec) AS _recorded, i.call AS _call FROM i
"""


async def test_a_call_given_up_before_its_batch_leaves_its_update_unrecorded(
        pool: asyncpg.Pool) -> None:
    """A `/today` cancelled (at shutdown) while its statement waits for a lane sends no card,
    so its update must stay unrecorded: its redelivery is answered."""
    db = Database(pool)
    busy = []
    for update_id in (701, 702):  # both lanes busy, a batch each
        busy.append(asyncio.create_task(UpdateWork(db, BOT, update_id).recording(_SLEEPY, 0.8)))
        await asyncio.sleep(0.05)
    waiting = asyncio.create_task(UpdateWork(db, BOT, 703).recording(_SLEEPY, 0.0))
    await asyncio.sleep(0.05)
    waiting.cancel()
    await asyncio.gather(*busy)
    await asyncio.sleep(0.2)  # a lane is free again: anything left in the queue went out
    recorded = {r[0] for r in await pool.fetch(
        "SELECT update_id FROM processed_updates WHERE update_id BETWEEN 701 AND 703")}
    assert recorded == {701, 702}
