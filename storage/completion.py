"""When a module, and then a course, counts as complete. Shared by Done and by quizzes."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from storage import activity, gamification
from storage.gamification import Badge

# A journey is unlocked when its module is the first, or the module before it is complete
# (every journey done and its quiz passed): seed 003's "levels unlocked in order".
UNLOCKED_SQL = """
    (t.module_no = (SELECT min(t2.module_no) FROM topics t2
                    WHERE t2.course_id = t.course_id AND t2.archived_at IS NULL)
     OR EXISTS (SELECT 1 FROM module_progress mp
                WHERE mp.user_id = {user} AND mp.course_id = t.course_id
                  AND mp.module_no = t.module_no - 1 AND mp.completed_at IS NOT NULL))
"""


def unlocked_sql(user: str) -> str:
    return UNLOCKED_SQL.format(user=user)


# Every live topic of module $3 in course $2 is completed by user $1.
MODULE_JOURNEYS_DONE_SQL = """
    NOT EXISTS (
        SELECT 1 FROM topics t
        WHERE t.course_id = $2 AND t.module_no = $3 AND t.archived_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM topic_progress tp WHERE tp.topic_id = t.id
                          AND tp.user_id = $1 AND tp.is_completed))
"""


async def refresh_module(conn: asyncpg.Connection, user_id: uuid.UUID, course_id: uuid.UUID,
                         module_no: int, now: datetime) -> tuple[bool, list[Badge]]:
    """Mark the module complete when every live topic is done and its quiz (if any) passed.
    Returns (newly completed, badges won)."""
    newly = await conn.fetchval(
        f"""
        UPDATE module_progress mp SET completed_at = $4
        WHERE mp.user_id = $1 AND mp.course_id = $2 AND mp.module_no = $3
          AND mp.completed_at IS NULL
          AND {MODULE_JOURNEYS_DONE_SQL}
          AND (mp.quiz_passed OR NOT EXISTS (
              SELECT 1 FROM quiz_questions q WHERE q.course_id = $2 AND q.module_no = $3))
        RETURNING true
        """,
        user_id, course_id, module_no, now,
    )
    if not newly:
        return False, []
    badges = await gamification.scoped_badges(
        conn, user_id, "module_complete", f"course:{course_id}:module:{module_no}")
    await conn.execute(
        """
        INSERT INTO module_progress (user_id, course_id, module_no, unlocked_at)
        SELECT $1, $2, $3 + 1, $4
        WHERE EXISTS (SELECT 1 FROM topics WHERE course_id = $2 AND module_no = $3 + 1
                      AND archived_at IS NULL)
        ON CONFLICT (user_id, course_id, module_no) DO UPDATE
            SET unlocked_at = coalesce(module_progress.unlocked_at, EXCLUDED.unlocked_at)
        """,
        user_id, course_id, module_no, now,
    )
    return True, badges


async def finish_course_if_complete(
    conn: asyncpg.Connection, user_id: uuid.UUID, course_id: uuid.UUID, now: datetime
) -> tuple[bool, list[Badge]]:
    """Every module complete → close the enrollment, stop deliveries, award the badge once."""
    finished = await conn.fetchval(
        """
        WITH done AS (
            SELECT NOT EXISTS (
                SELECT 1 FROM topics t WHERE t.course_id = $2 AND t.archived_at IS NULL
                  AND NOT EXISTS (SELECT 1 FROM module_progress mp WHERE mp.user_id = $1
                                  AND mp.course_id = $2 AND mp.module_no = t.module_no
                                  AND mp.completed_at IS NOT NULL)) AS ok
        ), e AS (
            UPDATE enrollments SET status = 'completed', completed_at = $3
            WHERE user_id = $1 AND course_id = $2 AND status <> 'completed'
              AND (SELECT ok FROM done)
            RETURNING id
        ), cu AS (
            -- the schedule goes with it (0290's trigger)
            UPDATE course_users SET completed_at = coalesce(completed_at, $3)
            WHERE user_id = $1 AND course_id = $2 AND (SELECT ok FROM done)
        )
        SELECT count(*) > 0 FROM e
        """,
        user_id, course_id, now,
    )
    if not finished:
        return False, []
    await activity.log(conn, user_id=user_id, course_id=course_id,
                       event_type="course.completed", at=now)
    return True, await gamification.scoped_badges(conn, user_id, "course_complete",
                                                  f"course:{course_id}")
