"""The delivery claim on real Postgres: one per local day, across zones and DST; concurrent
claimers never share a row; a dead worker's claims come back after the visibility timeout."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from storage import deliveries, enrollments, journeys, pg, users
from storage.day import open_delivery, today
from storage.done import mark_done
from tests import factories as f
from tests.helpers import atomically, import_path, tiny_course

START = datetime(2026, 3, 27, 0, 0, tzinfo=UTC)  # Europe/Berlin springs forward on 29 March


async def _course(pool: asyncpg.Pool, tmp_path: Path, topics: int = 20):
    report = await import_path(pool, tiny_course(tmp_path / "c", topics=topics))
    return report.course_id


async def _learner(conn, course_id, tz: str, hour: int, now: datetime):
    u = await f.user(conn, timezone=tz, delivery_hour=hour)
    return u, (await atomically(conn, enrollments.enroll, u, course_id, now)).course_user_id


async def _tick(conn, now: datetime, *, open_cards: bool = False) -> list:
    """One scheduler round; with `open_cards` every learner opens the card right away."""
    ids = await deliveries.claim_due(conn, now=now, limit=1000, worker="t", visibility_seconds=300)
    tokens = await deliveries.claim_tokens(conn, ids)
    for delivery_id in ids:
        assert await deliveries.mark_sent(conn, delivery_id, chat_id=1, message_id=1, now=now,
                                          token=tokens[delivery_id])
        if open_cards:
            jv = await journeys.view(conn, delivery_id)
            assert jv is not None
            await atomically(conn, open_delivery, delivery_id, jv.user_id, now)
    return ids


async def test_one_journey_per_local_day_across_zones_and_dst(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    course_id = await _course(pool, tmp_path)
    zones = [
        ("Pacific/Honolulu", 8),
        ("Pacific/Kiritimati", 8),
        ("Europe/Berlin", 8),
        ("Europe/Berlin", 2),
        ("America/New_York", 0),
    ]
    async with pool.acquire() as conn:
        learners = [await _learner(conn, course_id, tz, h, START) for tz, h in zones]
        now = START
        while now < START + timedelta(days=4):
            await _tick(conn, now, open_cards=True)  # opening takes the journey
            now += timedelta(minutes=15)
        for (tz, hour), (_, cu) in zip(zones, learners, strict=True):
            rows = await conn.fetch(
                "SELECT local_date, claimed_at, j.priority FROM journey_deliveries d "
                "JOIN journeys j ON j.id = d.journey_id WHERE course_user_id = $1 "
                "ORDER BY claimed_at",
                cu,
            )
            dates = [r["local_date"] for r in rows]
            assert len(dates) == len(set(dates)), (tz, dates)  # never twice a local day
            # consecutive local days, no day skipped
            assert all((b - a).days == 1 for a, b in itertools.pairwise(dates)), (tz, dates)
            assert len(dates) >= 3, (tz, dates)
            # journeys advance one at a time, in order
            prios = [r["priority"] for r in rows]
            assert prios == sorted(prios) and len(set(prios)) == len(prios)
            for r in rows:
                local = r["claimed_at"].astimezone(ZoneInfo(tz))
                assert local.date() == r["local_date"]
                if not (tz == "Europe/Berlin" and hour == 2):
                    assert local.hour == hour, (tz, local)


async def test_today_and_scheduler_share_the_day(pool: asyncpg.Pool, tmp_path: Path) -> None:
    course_id = await _course(pool, tmp_path)
    async with pool.acquire() as conn:
        _u, cu = await _learner(conn, course_id, "UTC", 8, START)
        pulled = await atomically(conn, today, cu, START + timedelta(hours=6))  # before 08:00
        assert pulled.fresh and pulled.view
        assert await _tick(conn, START + timedelta(hours=8, minutes=1)) == []  # same day: nothing
        again = await atomically(conn, today, cu, START + timedelta(hours=20))
        assert not again.fresh and again.view and again.view.topic_id == pulled.view.topic_id
        pushed = await _tick(conn, START + timedelta(days=1, hours=8))
        assert len(pushed) == 1
        view = await journeys.view(conn, pushed[0])
        assert view and view.position == 2


async def test_done_is_compare_and_set(pool: asyncpg.Pool, tmp_path: Path) -> None:
    course_id = await _course(pool, tmp_path, topics=2)
    async with pool.acquire() as conn:
        u, cu = await _learner(conn, course_id, "UTC", 8, START)
        day = await atomically(conn, today, cu, START)
        assert day.view
        results = await asyncio.gather(
            *[
                _done_on_own_conn(pool, day.view.delivery_id, u, START + timedelta(minutes=3))
                for _ in range(5)
            ]
        )
        assert sum(r.newly_done for r in results) == 1
        row = await conn.fetchrow(
            "SELECT attempts, time_spent_seconds, is_completed, score "
            "FROM topic_progress WHERE user_id = $1",
            u,
        )
        assert row["attempts"] == 1 and row["is_completed"] and row["score"] is None
        assert row["time_spent_seconds"] == 180
        other = await f.user(conn)
        assert await atomically(conn, mark_done, day.view.delivery_id, other, START) is None


async def _done_on_own_conn(pool, delivery_id, user_id, now):
    async with pool.acquire() as conn:
        return await atomically(conn, mark_done, delivery_id, user_id, now)


async def test_finishing_the_course_stops_deliveries(pool: asyncpg.Pool, tmp_path: Path) -> None:
    course_id = await _course(pool, tmp_path, topics=2)
    async with pool.acquire() as conn:
        u, cu = await _learner(conn, course_id, "UTC", 8, START)
        for day in range(2):
            res = await atomically(conn, today, cu, START + timedelta(days=day))
            assert res.view
            done = await atomically(
                conn, mark_done, res.view.delivery_id, u, START + timedelta(days=day, minutes=5)
            )
        assert done and done.course_finished
        assert await _tick(conn, START + timedelta(days=5, hours=9)) == []
        assert (
            await conn.fetchval("SELECT status::text FROM enrollments WHERE user_id = $1", u)
            == "completed"
        )


async def _claimed(conn, now: datetime) -> set:
    """The course-users one scheduler round (cards opened) claims at `now`."""
    ids = await _tick(conn, now, open_cards=True)
    rows = await conn.fetch(
        "SELECT course_user_id FROM journey_deliveries WHERE id = ANY($1::uuid[])", ids)
    return {r["course_user_id"] for r in rows}


async def test_paused_left_lapsed_or_completed_are_never_claimed_until_back(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    course_id = await _course(pool, tmp_path)
    names = ("active", "paused", "user_paused", "left", "lapsed", "completed")
    async with pool.acquire() as conn:
        ls = {n: await _learner(conn, course_id, "UTC", 8, START) for n in names}
        cu = {n: ls[n][1] for n in names}
        await users.pause(conn, ls["paused"][0], course_id, START)
        await users.pause(conn, ls["user_paused"][0])
        assert await enrollments.leave(conn, ls["left"][0], course_id, START)
        await conn.execute("UPDATE course_users SET lapsed_at = $2 WHERE id = $1",
                           cu["lapsed"], START)
        await conn.execute("UPDATE course_users SET completed_at = $2 WHERE id = $1",
                           cu["completed"], START)
        schedule = {r["course_user_id"]: r["paused"] for r in await conn.fetch(
            "SELECT course_user_id, paused FROM course_user_schedule")}
        # the paused ones keep their schedule (/progress shows it), out of the claim's queue
        assert schedule == {cu["active"]: False, cu["paused"]: True, cu["user_paused"]: False}
        for day in range(3):
            now = START + timedelta(days=day, hours=9)
            assert await _claimed(conn, now) == {cu["active"]}, day

        back = START + timedelta(days=3, hours=12)
        await atomically(conn, users.resume, ls["paused"][0], back, course_id)
        await atomically(conn, users.resume, ls["user_paused"][0], back)
        again = await atomically(conn, enrollments.enroll, ls["left"][0], course_id, back)
        assert again.rejoined
        # the lapsed learner writes again: their next update's arrival resumes the course
        lapsed = await conn.fetchrow("SELECT telegram_id, display_name FROM users WHERE id = $1",
                                     ls["lapsed"][0])
        seen, _ = await users.arrive(conn, lapsed["telegram_id"], display_name=lapsed[1],
                                     username=None, default_timezone="UTC", default_hour=8,
                                     now=back, bot_id=1, update_id=1)
        assert not seen
        assert await conn.fetchval(
            "SELECT count(*) FROM learner_activity_events "
            "WHERE user_id = $1 AND event_type = 'course.welcome_back'", ls["lapsed"][0]) == 1
        claimed = await _claimed(conn, START + timedelta(days=4, hours=9))
        assert claimed == {cu[n] for n in names if n != "completed"}


async def test_the_schedule_agrees_with_its_course_user(pool: asyncpg.Pool, tmp_path: Path
                                                        ) -> None:
    """0290's triggers: no schedule for a course-user who left (or completed, or lapsed), and
    `paused` is course_users.paused_at's, whoever writes the row."""
    course_id = await _course(pool, tmp_path)
    async with pool.acquire() as conn:
        u, cu = await _learner(conn, course_id, "UTC", 8, START)
        with pytest.raises(asyncpg.CheckViolationError, match="disagrees"):
            await conn.execute(
                "UPDATE course_user_schedule SET paused = true WHERE course_user_id = $1", cu)
        await enrollments.leave(conn, u, course_id, START)
        assert await conn.fetchval(
            "SELECT count(*) FROM course_user_schedule WHERE course_user_id = $1", cu) == 0
        with pytest.raises(asyncpg.CheckViolationError, match="has no schedule"):
            await conn.execute(
                "INSERT INTO course_user_schedule (course_user_id, next_due_at) "
                "VALUES ($1, $2)", cu, START)


async def test_concurrent_claimers_never_share(
    pool: asyncpg.Pool, db_url: str, tmp_path: Path
) -> None:
    course_id = await _course(pool, tmp_path, topics=3)
    async with pool.acquire() as conn:
        await conn.execute(
            """
            WITH u AS (INSERT INTO users (telegram_id, delivery_hour)
                       SELECT 5000000 + g, 8 FROM generate_series(1, 2000) g RETURNING id),
                 cu AS (INSERT INTO course_users (user_id, course_id) SELECT id, $1 FROM u
                        RETURNING id)
            INSERT INTO course_user_schedule (course_user_id, next_due_at)
            SELECT id, $2 FROM cu
            """,
            course_id,
            START,
        )
    conns = [await pg.connect(db_url) for _ in range(4)]
    now = START + timedelta(hours=9)

    async def claimer(conn) -> list:
        got = []
        while True:
            async with conn.transaction():
                ids = await deliveries.claim_due(
                    conn, now=now, limit=50, worker="w", visibility_seconds=300
                )
            if not ids:
                return got
            got.extend(ids)

    try:
        results = await asyncio.gather(*(claimer(c) for c in conns))
    finally:
        for c in conns:
            await c.close()
    all_ids = [i for r in results for i in r]
    assert len(all_ids) == 2000 and len(set(all_ids)) == 2000
    assert all(len(r) > 0 for r in results)  # the work really was shared
    async with pool.acquire() as conn:
        per_cu = await conn.fetch(
            "SELECT course_user_id, count(*) FROM journey_deliveries GROUP BY 1"
        )
    assert len(per_cu) == 2000 and all(r["count"] == 1 for r in per_cu)


async def test_dead_workers_claims_are_retaken_once(pool: asyncpg.Pool, tmp_path: Path) -> None:
    course_id = await _course(pool, tmp_path)
    async with pool.acquire() as conn:
        for _ in range(10):
            await _learner(conn, course_id, "UTC", 8, START)
        t0 = START + timedelta(hours=8)
        claimed = await deliveries.claim_due(
            conn, now=t0, limit=100, worker="dead", visibility_seconds=300
        )
        assert len(claimed) == 10  # ...and the worker dies before sending anything
        early = await atomically(
            conn, deliveries.reclaim_expired, now=t0 + timedelta(seconds=100),
            limit=100,
            worker="w2",
            visibility_seconds=300,
            max_attempts=5,
        )
        assert early == []
        later = t0 + timedelta(seconds=301)
        retaken = await atomically(
            conn, deliveries.reclaim_expired, now=later, limit=100, worker="w2",
            visibility_seconds=300, max_attempts=5,
        )
        assert sorted(retaken) == sorted(claimed)
        again = await atomically(
            conn, deliveries.reclaim_expired, now=later, limit=100, worker="w3",
            visibility_seconds=300, max_attempts=5,
        )
        assert again == []  # w2 holds them now
        counts = Counter(
            r["course_user_id"]
            for r in await conn.fetch("SELECT course_user_id FROM journey_deliveries")
        )
        assert set(counts.values()) == {1}


async def test_blocked_learner_is_marked_and_skipped(pool: asyncpg.Pool, tmp_path: Path) -> None:
    course_id = await _course(pool, tmp_path)
    async with pool.acquire() as conn:
        u, _cu = await _learner(conn, course_id, "UTC", 8, START)
        t0 = START + timedelta(hours=8)
        [d] = await deliveries.claim_due(conn, now=t0, limit=10, worker="w", visibility_seconds=60)
        [token] = (await deliveries.claim_tokens(conn, [d])).values()
        await deliveries.mark_failed(conn, d, error="Forbidden: bot was blocked", unreachable=True,
                                     token=token)
        assert await conn.fetchval("SELECT is_reachable FROM users WHERE id = $1", u) is False
        assert await _tick(conn, t0 + timedelta(days=1)) == []


async def test_per_day_counts(pool: asyncpg.Pool, tmp_path: Path) -> None:
    """A learner who changes zone mid-way still never gets two journeys on one local date."""
    course_id = await _course(pool, tmp_path)
    from storage import users

    async with pool.acquire() as conn:
        u, _cu = await _learner(conn, course_id, "Pacific/Kiritimati", 8, START)
        now = START
        per_date: dict = defaultdict(int)
        while now < START + timedelta(days=3):
            if now == START + timedelta(days=1, hours=12):
                await atomically(conn, users.set_timezone, u, "Pacific/Honolulu", now)  # -24 h
            await _tick(conn, now)
            now += timedelta(minutes=30)
        for r in await conn.fetch("SELECT local_date FROM journey_deliveries"):
            per_date[r["local_date"]] += 1
        assert per_date and max(per_date.values()) == 1


async def test_unopened_card_is_offered_again_and_backs_off(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """Sending doesn't advance: an unopened card offers the same journey the next day; after 3
    unopened in a row cards come every other day, after 5 weekly; after 4 weeks of silence one
    farewell and nothing more."""
    course_id = await _course(pool, tmp_path)
    async with pool.acquire() as conn:
        _u, cu = await _learner(conn, course_id, "Europe/Berlin", 8, START)
        now = START
        while now < START + timedelta(days=60):
            await _tick(conn, now)
            now += timedelta(hours=1)
        rows = await conn.fetch(
            "SELECT d.local_date, d.kind::text, j.priority FROM journey_deliveries d "
            "JOIN journeys j ON j.id = d.journey_id WHERE course_user_id = $1 "
            "ORDER BY local_date", cu)
        lapsed = await conn.fetchval("SELECT lapsed_at FROM course_users WHERE id = $1", cu)
    assert {r["priority"] for r in rows} == {rows[0]["priority"]}  # always journey one
    kinds = [r["kind"] for r in rows]
    assert kinds[-1] == "farewell" and kinds.count("farewell") == 1
    gaps = [(b["local_date"] - a["local_date"]).days for a, b in itertools.pairwise(rows)]
    assert gaps[:2] == [1, 1]  # cards 1-3 daily
    assert gaps[2:4] == [2, 2]  # 3 unopened in a row: every other day
    assert all(g == 7 for g in gaps[4:])  # 5 unopened: weekly
    assert 28 <= (rows[-1]["local_date"] - START.date()).days <= 35
    assert lapsed is not None


async def test_only_the_claim_holder_records_and_the_heartbeat_keeps_it(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """A reclaim hands out a new token: the first holder's mark_sent/heartbeat no longer count,
    and a heartbeat keeps a claim from being retaken at all."""
    report = await import_path(pool, tiny_course(tmp_path / "c"))
    course_id = report.course_id
    async with pool.acquire() as conn:
        for _ in range(2):
            await _learner(conn, course_id, "UTC", 8, START)
        t0 = START + timedelta(hours=8)
        a, b = await deliveries.claim_due(conn, now=t0, limit=10, worker="w1",
                                          visibility_seconds=60)
        first = await deliveries.claim_tokens(conn, [a, b])
        assert first[a] != first[b]
        # w1 still works on `a`: its heartbeat at t0+50 keeps it invisible past t0+60
        held = await deliveries.heartbeat(conn, {a: first[a]}, now=t0 + timedelta(seconds=50),
                                          visibility_seconds=60)
        assert held == {a}
        retaken = await atomically(
            conn, deliveries.reclaim_expired, now=t0 + timedelta(seconds=61), limit=10,
            worker="w2", visibility_seconds=60, max_attempts=5)
        assert retaken == [b]
        second = await deliveries.claim_tokens(conn, [b])
        assert second[b] != first[b]
        # the old holder can neither record nor extend `b`; the new one can
        assert not await deliveries.mark_sent(conn, b, chat_id=1, message_id=1, now=t0,
                                              token=first[b])
        assert await deliveries.heartbeat(conn, {b: first[b]}, now=t0,
                                          visibility_seconds=60) == set()
        await deliveries.mark_failed(conn, b, error="x", unreachable=False, token=first[b])
        assert await conn.fetchval(
            "SELECT status::text FROM journey_deliveries WHERE id = $1", b) == "claimed"
        assert await deliveries.mark_sent(conn, b, chat_id=1, message_id=2, now=t0,
                                          token=second[b])
        assert await deliveries.mark_sent(conn, a, chat_id=1, message_id=3, now=t0,
                                          token=first[a])
