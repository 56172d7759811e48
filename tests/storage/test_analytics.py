"""Seed 004's analytics queries (storage/stats.py) on a seeded data set with known answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from storage import stats
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
                          progress: list[tuple], quiz_scores: tuple[int, ...] = ()) -> None:
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
            for score in quiz_scores:
                await conn.execute(
                    "INSERT INTO quiz_attempts (user_id, course_id, module_no, score, status, "
                    "started_at, completed_at) VALUES ($1, $2, 1, $3, $4::quiz_status, $5, $6)",
                    u, course_id, score, "passed" if score >= 70 else "failed",
                    NOW - timedelta(hours=1), NOW,
                )

        await learner(12, 2, [(t1, 1, 600, True, 3), (t2, 1, 300, True, 2)], (100,))  # 10 days
        await learner(6, 2, [(t1, 3, 1200, True, 3), (t2, 1, 300, True, 2)], (50, 80))  # 4 days
        await learner(45, None, [(t1, 5, 100, False, 40)])                 # idle since day 45
        await learner(5, None, [(t1, 2, 60, False, 1)])                    # active
        await learner(3, None, [])                                         # not started

        enrolled = await stats.enrollments(conn, course_id, NOW)
        assert (enrolled.total, enrolled.completed, enrolled.completion_rate) == (5, 2, 40)

        hard = await stats.difficult_topics(conn, course_id)
        assert [(t.title, t.avg_attempts, t.avg_minutes, t.completion_rate) for t in hard] == [
            ("Topic 1.1", 2.8, 15.0, 50),
            ("Topic 1.2", 1.0, 5.0, 100),
        ]
        assert await stats.time_to_complete_days(conn, course_id) == (7.0, 7.0)

        drop = await stats.dropout(conn, course_id, NOW, idle_days=30)
        assert (drop.learners, drop.open_enrollments, drop.rate) == (1, 3, 33)

        funnel = await stats.module_funnel(conn, course_id)
        assert [(m.module_no, m.topics, m.started, m.completed) for m in funnel] == [(1, 2, 4, 2)]

        assert await stats.quiz_pass_rates(conn, course_id, 70) == [(1, 3, 2, 66.7)]
