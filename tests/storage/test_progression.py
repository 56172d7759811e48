"""Quizzes, module unlocks, XP, streaks and badges on the real database (clock injected)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from storage import deliveries, enrollments, gamification, journeys, progress, quiz, users
from storage.day import today
from storage.done import mark_done
from tests import factories as f
from tests.helpers import atomically, import_path, quiz_course

T0 = datetime(2026, 3, 26, 9, 0, tzinfo=UTC)


async def take_quiz(conn, user_id, course_id, module, answers: list[int], now):
    started = await atomically(conn, quiz.start, user_id, course_id, module, now)
    assert started.attempt, started
    result = None
    for i, option in enumerate(answers):
        result = await atomically(conn, quiz.answer, started.attempt.id, user_id, i, option, now)
    return result


async def _do_day(conn, cu, user_id, now):
    res = await atomically(conn, today, cu, now)
    if res.view is None:
        return res
    await atomically(conn, mark_done, res.view.delivery_id, user_id, now + timedelta(minutes=2))
    return res


async def test_failed_quiz_cooldown_then_retry(pool: asyncpg.Pool, tmp_path: Path) -> None:
    course_id = (await import_path(pool, quiz_course(tmp_path / "c", cooldown=60))).course_id
    async with pool.acquire() as conn:
        u = await f.user(conn, timezone="Asia/Kolkata")
        failed = await take_quiz(conn, u, course_id, 1, [1, 1], T0)  # 5 is wrong
        assert failed.finished and failed.passed is False and failed.score == 50
        assert failed.cooldown_until == T0 + timedelta(minutes=60)
        refused = await atomically(conn, quiz.start, u, course_id, 1, T0 + timedelta(minutes=59))
        assert refused.attempt is None and refused.cooldown_until == T0 + timedelta(minutes=60)
        passed = await take_quiz(conn, u, course_id, 1, [0, 1], T0 + timedelta(minutes=61))
        assert passed.passed and passed.score == 100
        assert passed.xp == gamification.QUIZ_XP * 3  # hardest topic in the module is hard
        assert not any(b.code == "first_try_pass" for b in passed.badges)
        statuses = [r[0] for r in await conn.fetch(
            "SELECT status::text FROM quiz_attempts ORDER BY started_at")]
        assert statuses == ["failed", "passed"]


async def test_replayed_answer_is_not_recorded_twice(pool: asyncpg.Pool, tmp_path: Path) -> None:
    course_id = (await import_path(pool, quiz_course(tmp_path / "c"))).course_id
    async with pool.acquire() as conn:
        u = await f.user(conn)
        started = await atomically(conn, quiz.start, u, course_id, 1, T0)
        assert started.attempt
        again = await atomically(conn, quiz.start, u, course_id, 1, T0)  # the same open attempt
        assert again.attempt and again.attempt.id == started.attempt.id
        first = await atomically(conn, quiz.answer, started.attempt.id, u, 0, 0, T0)
        replay = await atomically(conn, quiz.answer, started.attempt.id, u, 0, 1, T0)
        assert first.recorded and not replay.recorded
        other = await f.user(conn)
        assert await atomically(conn, quiz.answer, started.attempt.id, other, 1, 1, T0) is None


async def test_next_module_waits_for_quiz(pool: asyncpg.Pool, tmp_path: Path) -> None:
    course_id = (await import_path(pool, quiz_course(tmp_path / "c"))).course_id
    async with pool.acquire() as conn:
        u = await f.user(conn, delivery_hour=8)
        cu = (await atomically(conn, enrollments.enroll, u, course_id, T0)).course_user_id
        await _do_day(conn, cu, u, T0)
        day2 = T0 + timedelta(days=1)
        res = await atomically(conn, today, cu, day2)
        done = await atomically(conn, mark_done, res.view.delivery_id, u, day2)
        assert done.quiz_module == 1  # module A's journeys are done: time for the quiz

        async def claim(at):
            return await deliveries.claim_due(conn, now=at, limit=10, worker="w",
                                            visibility_seconds=60)

        assert await claim(T0 + timedelta(days=2)) == []  # module B is locked
        locked = await atomically(conn, today, cu, T0 + timedelta(days=2, hours=1))
        assert locked.view is None and locked.locked_after == 1
        assert (await take_quiz(conn, u, course_id, 1, [0, 1], T0 + timedelta(days=2))).passed
        [delivery] = await claim(T0 + timedelta(days=3))
        view = await journeys.view(conn, delivery)
        assert view and view.topic_title == "Three" and view.module_no == 2
        modules = (await progress.progress(conn, u))[0].modules
        assert modules[0].completed_at is not None and modules[1].unlocked


async def test_streak_counts_local_days_across_zone_change_and_dst(
    pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        u = await f.user(conn, timezone="Europe/Berlin")
        # Berlin springs forward on 29 March 2026: 23:30 local each evening.
        evenings = [datetime(2026, 3, d, 22, 30, tzinfo=UTC) for d in (27, 28)]
        evenings.append(datetime(2026, 3, 29, 21, 30, tzinfo=UTC))  # 23:30 CEST
        for moment in evenings:
            streak = await atomically(conn, gamification.bump_streak, u, moment)
        assert streak == 3
        # Same local day again: unchanged.
        assert await atomically(conn, gamification.bump_streak, u,
                                datetime(2026, 3, 29, 21, 45,
                                                                  tzinfo=UTC)) == 3
        # Fly to Honolulu (UTC-10): 30 March 10:00 UTC is still 29 March there → same day.
        await atomically(conn, users.set_timezone, u, "Pacific/Honolulu",
                         datetime(2026, 3, 30, 9, tzinfo=UTC))
        assert await atomically(conn, gamification.bump_streak, u,
                                datetime(2026, 3, 30, 9, tzinfo=UTC)) == 3
        # 30 March evening in Honolulu: the next local day → 4.
        assert await atomically(conn, gamification.bump_streak, u,
                                datetime(2026, 3, 31, 5, tzinfo=UTC)) == 4
        # Skip a local day: back to 1, longest kept.
        assert await atomically(conn, gamification.bump_streak, u,
                                datetime(2026, 4, 2, 5, tzinfo=UTC)) == 1
        row = await conn.fetchrow("SELECT streak_current, streak_longest FROM users WHERE id=$1",
                                  u)
        assert (row["streak_current"], row["streak_longest"]) == (1, 4)


async def test_same_badge_twice_concurrently_is_one_row(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        u = await f.user(conn)

    async def award():
        async with pool.acquire() as conn:
            return await gamification.award_badge(conn, u, "module_complete", "course:x:m:1")

    results = await asyncio.gather(*(award() for _ in range(10)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1 and winners[0].code == "module_complete"
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM user_badges") == 1


async def test_xp_with_difficulty_and_once_per_topic(pool: asyncpg.Pool, tmp_path: Path) -> None:
    course_id = (await import_path(pool, quiz_course(tmp_path / "c"))).course_id
    async with pool.acquire() as conn:
        u = await f.user(conn)
        cu = (await atomically(conn, enrollments.enroll, u, course_id, T0)).course_user_id
        res = await atomically(conn, today, cu, T0)
        done = await atomically(conn, mark_done, res.view.delivery_id, u, T0)
        assert done.xp == gamification.JOURNEY_XP * 3  # "One" is hard
        assert await gamification.award_xp(conn, u, course_id, f"topic:{res.view.topic_id}",
                                           30) == 0  # never twice
        assert await conn.fetchval("SELECT xp_total FROM users WHERE id=$1", u) == 30


async def test_streak_badge_awarded_once(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        u = await f.user(conn)
        won = []
        for day in range(4):
            streak = await atomically(conn, gamification.bump_streak, u, T0 + timedelta(days=day))
            won += await gamification.streak_badges(conn, u, streak)
        assert [b.code for b in won] == ["streak_3"]


async def test_score_null_until_quiz(pool: asyncpg.Pool, tmp_path: Path) -> None:
    course_id = (await import_path(pool, quiz_course(tmp_path / "c"))).course_id
    async with pool.acquire() as conn:
        u = await f.user(conn)
        cu = (await atomically(conn, enrollments.enroll, u, course_id, T0)).course_user_id
        await _do_day(conn, cu, u, T0)
        assert await conn.fetchval("SELECT score FROM topic_progress") is None
        await take_quiz(conn, u, course_id, 1, [1, 0], T0)  # both wrong: a real 0
        assert await conn.fetchval("SELECT score FROM topic_progress") == 0
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("UPDATE quiz_attempts SET score = 120")
