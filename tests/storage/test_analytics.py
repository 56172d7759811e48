"""Seed 004's analytics queries on a seeded data set with known answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from storage import analytics
from tests import factories as f
from tests.helpers import import_path, tiny_course

NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


async def test_analytics_known_answers(pool: asyncpg.Pool, tmp_path: Path) -> None:
    course_id = (await import_path(pool, tiny_course(tmp_path / "c", topics=2))).course_id
    async with pool.acquire() as conn:
        topics = dict(await conn.fetch("SELECT key, id FROM topics WHERE course_id = $1",
                                       course_id))
        t1, t2 = topics["topic-1-1"], topics["topic-1-2"]

        async def learner(enrolled_days_ago: float, completed_days_ago: float | None,
                          progress: list[tuple]) -> None:
            u = await f.user(conn)
            enrolled = NOW - timedelta(days=enrolled_days_ago)
            completed = NOW - timedelta(days=completed_days_ago) if completed_days_ago else None
            await conn.execute(
                "INSERT INTO enrollments (user_id, course_id, enrolled_at, status, completed_at) "
                "VALUES ($1, $2, $3, $4::enrollment_status, $5)",
                u, course_id, enrolled, "completed" if completed else "active", completed,
            )
            for topic, attempts, seconds, done, last_seen_days_ago in progress:
                seen = NOW - timedelta(days=last_seen_days_ago)
                await conn.execute(
                    """
                    INSERT INTO topic_progress (user_id, course_id, topic_id, attempts,
                        time_spent_seconds, is_completed, completed_at, first_started_at,
                        last_accessed_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
                    """,
                    u, course_id, topic, attempts, seconds, done, seen if done else None, seen,
                )
            if completed:
                await conn.execute(
                    "INSERT INTO module_progress (user_id, course_id, module_no, completed_at) "
                    "VALUES ($1, $2, 1, $3)", u, course_id, completed)

        await learner(12, 2, [(t1, 1, 600, True, 3), (t2, 1, 300, True, 2)])    # A: 10 days
        await learner(6, 2, [(t1, 3, 1200, True, 3), (t2, 1, 300, True, 2)])    # B: 4 days
        await learner(45, None, [(t1, 5, 100, False, 40)])                       # C: dropped
        await learner(5, None, [(t1, 2, 60, False, 1)])                          # D: active
        await learner(3, None, [])                                               # E: not started

        completion = await analytics.completion_rate(conn, course_id)
        assert (completion.enrolled, completion.completed, completion.rate) == (5, 2, 40.0)

        hard = await analytics.difficult_topics(conn, course_id)
        assert [(t.title, t.avg_attempts, t.avg_minutes, t.completions) for t in hard] == [
            ("Topic 1.1", 2.0, 15.0, 2),
            ("Topic 1.2", 1.0, 5.0, 2),
        ]
        assert hard[0].struggling == 1  # C: 5 attempts, not completed

        assert await analytics.time_to_complete_days(conn, course_id) == (7.0, 7.0)

        drop = await analytics.dropout(conn, course_id, NOW)
        assert (drop.started, drop.dropped, drop.rate) == (4, 1, 25.0)

        funnel = await analytics.module_funnel(conn, course_id)
        assert funnel == [(1, "Module 1", 4, 2)]
