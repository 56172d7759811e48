"""Analytics for /stats and /export (seed 004's queries): enrollment, activity, completion
funnel, difficult topics, dropout. Numbers come from enrollments, topic_progress and
learner_activity_events only; every function is one query, so each can be checked alone."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg


@dataclass(frozen=True)
class CourseLine:
    slug: str
    title: str
    enrolled: int
    completed: int
    active_7d: int
    active_30d: int


async def course_overview(conn: asyncpg.Connection, now: datetime) -> list[CourseLine]:
    rows = await conn.fetch(
        """
        SELECT c.slug, c.title,
               (SELECT count(*) FROM enrollments e WHERE e.course_id = c.id) AS enrolled,
               (SELECT count(*) FROM enrollments e WHERE e.course_id = c.id
                    AND e.status = 'completed') AS completed,
               (SELECT count(DISTINCT a.user_id) FROM learner_activity_events a
                WHERE a.course_id = c.id AND a.created_at > $1::timestamptz - interval '7 days'
                  AND a.created_at <= $1) AS active_7d,
               (SELECT count(DISTINCT a.user_id) FROM learner_activity_events a
                WHERE a.course_id = c.id AND a.created_at > $1::timestamptz - interval '30 days'
                  AND a.created_at <= $1) AS active_30d
        FROM courses c ORDER BY c.title
        """,
        now,
    )
    return [CourseLine(**dict(r)) for r in rows]


@dataclass(frozen=True)
class Enrollments:
    total: int
    active: int
    paused: int
    completed: int
    active_7d: int
    active_30d: int

    @property
    def completion_rate(self) -> int:
        return round(100 * self.completed / self.total) if self.total else 0


async def enrollments(conn: asyncpg.Connection, course_id: uuid.UUID, now: datetime) -> Enrollments:
    row = await conn.fetchrow(
        """
        SELECT count(*) AS total,
               count(*) FILTER (WHERE status = 'active') AS active,
               count(*) FILTER (WHERE status = 'paused') AS paused,
               count(*) FILTER (WHERE status = 'completed') AS completed,
               (SELECT count(DISTINCT a.user_id) FROM learner_activity_events a
                WHERE a.course_id = $1 AND a.created_at > $2::timestamptz - interval '7 days'
                  AND a.created_at <= $2) AS active_7d,
               (SELECT count(DISTINCT a.user_id) FROM learner_activity_events a
                WHERE a.course_id = $1 AND a.created_at > $2::timestamptz - interval '30 days'
                  AND a.created_at <= $2) AS active_30d
        FROM enrollments WHERE course_id = $1
        """,
        course_id, now,
    )
    return Enrollments(**dict(row))


@dataclass(frozen=True)
class ModuleStep:
    module_no: int
    title: str
    topics: int
    started: int  # enrolled learners with progress on any topic of the module
    completed: int  # ... who completed every live topic of it


async def module_funnel(conn: asyncpg.Connection, course_id: uuid.UUID) -> list[ModuleStep]:
    rows = await conn.fetch(
        """
        WITH live AS (
            SELECT id, module_no, module_title FROM topics
            WHERE course_id = $1 AND archived_at IS NULL
        ), sizes AS (
            SELECT module_no, max(module_title) AS title, count(*) AS topics
            FROM live GROUP BY module_no
        ), per_learner AS (
            SELECT tp.user_id, l.module_no, count(*) FILTER (WHERE tp.is_completed) AS done
            FROM topic_progress tp
            JOIN live l ON l.id = tp.topic_id
            JOIN enrollments e ON e.user_id = tp.user_id AND e.course_id = $1
            GROUP BY tp.user_id, l.module_no
        )
        SELECT s.module_no, s.title, s.topics, count(p.user_id) AS started,
               count(p.user_id) FILTER (WHERE p.done = s.topics) AS completed
        FROM sizes s LEFT JOIN per_learner p ON p.module_no = s.module_no
        GROUP BY s.module_no, s.title, s.topics ORDER BY s.module_no
        """,
        course_id,
    )
    return [ModuleStep(**dict(r)) for r in rows]


async def time_to_complete_days(conn: asyncpg.Connection, course_id: uuid.UUID
                                ) -> tuple[float | None, float | None]:
    """(average, median) days from enrollment to completion among those who completed."""
    row = await conn.fetchrow(
        """
        SELECT avg(extract(epoch FROM completed_at - enrolled_at) / 86400) AS avg_days,
               percentile_cont(0.5) WITHIN GROUP (
                   ORDER BY extract(epoch FROM completed_at - enrolled_at) / 86400) AS median
        FROM enrollments WHERE course_id = $1 AND status = 'completed'
        """,
        course_id,
    )
    avg = round(float(row["avg_days"]), 1) if row["avg_days"] is not None else None
    med = round(float(row["median"]), 1) if row["median"] is not None else None
    return avg, med


async def quiz_pass_rates(conn: asyncpg.Connection, course_id: uuid.UUID, pass_mark: int
                          ) -> list[tuple[int, int, int, float]]:
    """Per module: (module, attempts, passed, pass rate %) over finished attempts."""
    rows = await conn.fetch(
        """
        SELECT module_no, count(*) AS total, count(*) FILTER (WHERE score >= $2) AS passed
        FROM quiz_attempts WHERE course_id = $1 AND score IS NOT NULL
        GROUP BY module_no ORDER BY module_no
        """,
        course_id, pass_mark,
    )
    return [(r["module_no"], r["total"], r["passed"],
             round(100 * r["passed"] / r["total"], 1)) for r in rows]


@dataclass(frozen=True)
class TopicDifficulty:
    module_no: int
    topic_number: int
    title: str
    learners: int
    avg_attempts: float
    avg_minutes: float  # among learners who completed it
    completion_rate: int


async def difficult_topics(
    conn: asyncpg.Connection, course_id: uuid.UUID, limit: int = 5
) -> list[TopicDifficulty]:
    """Topics ranked by repeated attempts, then by time taken, then by low completion."""
    rows = await conn.fetch(
        """
        SELECT t.module_no, t.topic_number, t.title, count(*) AS learners,
               round(avg(tp.attempts), 1)::float AS avg_attempts,
               coalesce(round(avg(tp.time_spent_seconds) FILTER (WHERE tp.is_completed)
                              / 60.0, 1), 0)::float AS avg_minutes,
               round(100.0 * count(*) FILTER (WHERE tp.is_completed) / count(*))::int
                   AS completion_rate
        FROM topic_progress tp JOIN topics t ON t.id = tp.topic_id
        WHERE t.course_id = $1 AND t.archived_at IS NULL
        GROUP BY t.id
        ORDER BY avg(tp.attempts) DESC,
                 avg(tp.time_spent_seconds) FILTER (WHERE tp.is_completed) DESC NULLS LAST,
                 3 ASC, t.module_no, t.topic_number
        LIMIT $2
        """,
        course_id, limit,
    )
    return [TopicDifficulty(**dict(r)) for r in rows]


@dataclass(frozen=True)
class Dropout:
    idle_days: int
    learners: int  # not completed and idle for idle_days
    open_enrollments: int
    by_module: dict[int, int]  # furthest module touched (0 = none) → learners

    @property
    def rate(self) -> int:
        return round(100 * self.learners / self.open_enrollments) if self.open_enrollments else 0


async def dropout(
    conn: asyncpg.Connection, course_id: uuid.UUID, now: datetime, idle_days: int = 14
) -> Dropout:
    """Learners who have not completed the course and showed no activity for `idle_days`
    (learners enrolled more recently than that are not counted yet)."""
    rows = await conn.fetch(
        """
        WITH open AS (
            SELECT e.user_id, e.enrolled_at,
                   (SELECT max(a.created_at) FROM learner_activity_events a
                    WHERE a.user_id = e.user_id AND a.course_id = $1
                      AND a.created_at <= $2) AS last_seen,
                   (SELECT max(t.module_no) FROM topic_progress tp
                    JOIN topics t ON t.id = tp.topic_id
                    WHERE tp.user_id = e.user_id AND t.course_id = $1) AS module_no
            FROM enrollments e WHERE e.course_id = $1 AND e.status <> 'completed'
        )
        SELECT coalesce(module_no, 0) AS module_no,
               count(*) FILTER (WHERE coalesce(last_seen, enrolled_at)
                                      < $2::timestamptz - make_interval(days => $3)) AS idle,
               count(*) AS open
        FROM open GROUP BY 1 ORDER BY 1
        """,
        course_id, now, idle_days,
    )
    by_module = {r["module_no"]: r["idle"] for r in rows if r["idle"]}
    return Dropout(idle_days, sum(by_module.values()), sum(r["open"] for r in rows), by_module)


async def daily_active(
    conn: asyncpg.Connection, course_id: uuid.UUID | None, now: datetime, days: int = 30
) -> list[tuple[date, int]]:
    """Distinct active learners per UTC day over the last `days` days (zero days included)."""
    rows = await conn.fetch(
        """
        SELECT g.day::date AS day, count(DISTINCT a.user_id) AS n
        FROM generate_series(($2::timestamptz AT TIME ZONE 'UTC')::date - ($3 - 1),
                             ($2::timestamptz AT TIME ZONE 'UTC')::date,
                             interval '1 day') AS g(day)
        LEFT JOIN learner_activity_events a
               ON ($1::uuid IS NULL OR a.course_id = $1)
              AND a.created_at >= g.day AT TIME ZONE 'UTC'
              AND a.created_at < (g.day + interval '1 day') AT TIME ZONE 'UTC'
              AND a.created_at <= $2
        GROUP BY g.day ORDER BY g.day
        """,
        course_id, now, days,
    )
    return [(r["day"], r["n"]) for r in rows]


EXPORT_COLUMNS = (
    "telegram_id", "username", "name", "email", "cohort", "status", "enrolled_at",
    "completed_at", "journeys_done", "journeys_total", "percent", "minutes_spent",
    "last_activity_at",
)


async def progress_export(conn: asyncpg.Connection, course_id: uuid.UUID) -> list[asyncpg.Record]:
    """One row per enrolled learner, columns as EXPORT_COLUMNS."""
    return await conn.fetch(
        """
        WITH total AS (
            SELECT count(*) AS n FROM topics WHERE course_id = $1 AND archived_at IS NULL
        )
        SELECT u.telegram_id, u.username, u.display_name AS name,
               coalesce(u.email, m.email) AS email, m.cohort, e.status::text AS status,
               e.enrolled_at, e.completed_at,
               coalesce(p.done, 0) AS journeys_done, total.n AS journeys_total,
               CASE WHEN total.n > 0 THEN round(100.0 * coalesce(p.done, 0) / total.n)::int
                    ELSE 0 END AS percent,
               round(coalesce(p.seconds, 0) / 60.0)::int AS minutes_spent,
               (SELECT max(a.created_at) FROM learner_activity_events a
                WHERE a.user_id = u.id AND a.course_id = $1) AS last_activity_at
        FROM enrollments e
        JOIN users u ON u.id = e.user_id
        CROSS JOIN total
        LEFT JOIN LATERAL (
            SELECT count(*) FILTER (WHERE tp.is_completed) AS done,
                   sum(tp.time_spent_seconds) AS seconds
            FROM topic_progress tp JOIN topics t ON t.id = tp.topic_id
            WHERE tp.user_id = u.id AND t.course_id = $1 AND t.archived_at IS NULL
        ) p ON true
        LEFT JOIN LATERAL (
            SELECT string_agg(co.name, ' ' ORDER BY co.name) AS cohort, min(cm.email) AS email
            FROM cohort_members cm JOIN cohorts co ON co.id = cm.cohort_id
            WHERE cm.user_id = u.id AND co.course_id = $1
        ) m ON true
        WHERE e.course_id = $1
        ORDER BY e.enrolled_at, u.telegram_id
        """,
        course_id,
    )
