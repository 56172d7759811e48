"""Enrollment: a learner joins a course (enrollments + course_users, seed 000's `cu` rows)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from storage.pg import require_tx
from storage.users import back_columns, next_due_sql, schedule_back_sql


@dataclass(frozen=True)
class Enrollment:
    course_user_id: uuid.UUID
    created: bool
    rejoined: bool = False  # had left the course (/leave); progress kept


async def enroll(
    conn: asyncpg.Connection, user_id: uuid.UUID, course_id: uuid.UUID, now: datetime
) -> Enrollment:
    """Idempotent: a second enroll (double tap, retried update) returns the same course-user.
    Call inside a transaction: its statements commit or fail together."""
    require_tx(conn)
    await conn.execute(
        """
        INSERT INTO enrollments (user_id, course_id) VALUES ($1, $2)
        ON CONFLICT (user_id, course_id) DO UPDATE SET
            status = CASE WHEN enrollments.status = 'paused' THEN 'active'::enrollment_status
                          ELSE enrollments.status END
        """,
        user_id, course_id,
    )
    row = await conn.fetchrow(
        f"""
        WITH new AS (
            INSERT INTO course_users (user_id, course_id, created_at)
            SELECT u.id, $2, $3 FROM users u WHERE u.id = $1
            ON CONFLICT (course_id, user_id) DO NOTHING
            RETURNING id, user_id
        ), sched AS (
            INSERT INTO course_user_schedule (course_user_id, next_due_at)
            SELECT new.id, {next_due_sql("u.timezone", "u.delivery_hour", "$3::timestamptz")}
            FROM new JOIN users u ON u.id = new.user_id
        )
        SELECT id FROM new
        """,
        user_id, course_id, now,
    )
    if row:
        return Enrollment(row["id"], True)
    back = await conn.fetchval(
        f"""
        WITH back AS (
            UPDATE course_users cu SET left_at = NULL, lapsed_at = NULL
            FROM users u
            WHERE cu.user_id = $1 AND cu.course_id = $2 AND u.id = cu.user_id
              AND cu.left_at IS NOT NULL
            RETURNING {back_columns("$3::timestamptz")}
        ), sched AS ({schedule_back_sql("back")}
        )
        SELECT id FROM back
        """,
        user_id, course_id, now,
    )
    if back:
        return Enrollment(back, False, rejoined=True)
    existing = await conn.fetchval(
        "SELECT id FROM course_users WHERE user_id = $1 AND course_id = $2", user_id, course_id
    )
    return Enrollment(existing, False)


@dataclass(frozen=True)
class CourseUser:
    id: uuid.UUID
    course_id: uuid.UUID
    slug: str
    title: str
    completed_at: datetime | None
    next_due_at: datetime | None
    paused_at: datetime | None = None
    lapsed_at: datetime | None = None


async def course_users_of(conn: asyncpg.Connection, user_id: uuid.UUID) -> list[CourseUser]:
    """The courses a learner is in (left ones excluded), oldest enrollment first."""
    rows = await conn.fetch(
        """
        SELECT cu.id, cu.course_id, c.slug,
               course_title(c.id, (SELECT locale FROM users WHERE id = $1)) AS title,
               cu.completed_at, s.next_due_at,
               cu.paused_at, cu.lapsed_at
        FROM course_users cu JOIN courses c ON c.id = cu.course_id
        LEFT JOIN course_user_schedule s ON s.course_user_id = cu.id
        WHERE cu.user_id = $1 AND cu.left_at IS NULL ORDER BY cu.created_at
        """,
        user_id,
    )
    return [CourseUser(**dict(r)) for r in rows]


async def leave(conn: asyncpg.Connection, user_id: uuid.UUID, course_id: uuid.UUID,
                now: datetime) -> bool:
    """Leave a course: no more cards; progress is kept for a later re-enroll."""
    return bool(await conn.fetchval(
        """
        UPDATE course_users SET left_at = $3  -- its schedule goes (0290's trigger)
        WHERE user_id = $1 AND course_id = $2 AND left_at IS NULL
        RETURNING true
        """,
        user_id, course_id, now,
    ))


async def choose(conn: asyncpg.Connection, user_id: uuid.UUID, course_id: uuid.UUID,
                 now: datetime) -> bool:
    """Make this course the one typed questions are about (/course)."""
    return bool(await conn.fetchval(
        "UPDATE course_users SET chosen_at = $3 WHERE user_id = $1 AND course_id = $2 "
        "AND left_at IS NULL RETURNING true",
        user_id, course_id, now,
    ))


