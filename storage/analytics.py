"""Course analytics (seed 004's queries) for /stats: completion rate, difficult topics, time to
complete, dropout, the module funnel and quiz pass rates. Read-only SQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True)
class Completion:
    enrolled: int
    completed: int

    @property
    def rate(self) -> float:
        return round(100 * self.completed / self.enrolled, 1) if self.enrolled else 0.0


async def completion_rate(conn: asyncpg.Connection, course_id: uuid.UUID) -> Completion:
    row = await conn.fetchrow(
        """
        SELECT count(*) AS enrolled, count(*) FILTER (WHERE status = 'completed') AS completed
        FROM enrollments WHERE course_id = $1
        """,
        course_id,
    )
    return Completion(row["enrolled"], row["completed"])


@dataclass(frozen=True)
class TopicDifficulty:
    title: str
    module_no: int
    avg_attempts: float
    avg_minutes: float
    completions: int
    struggling: int  # learners with > 3 attempts who haven't completed it


async def difficult_topics(
    conn: asyncpg.Connection, course_id: uuid.UUID, *, min_completions: int = 1, limit: int = 5
) -> list[TopicDifficulty]:
    rows = await conn.fetch(
        """
        SELECT t.title, t.module_no,
               round(avg(tp.attempts) FILTER (WHERE tp.is_completed), 2) AS avg_attempts,
               round(avg(tp.time_spent_seconds) FILTER (WHERE tp.is_completed) / 60.0, 1)
                   AS avg_minutes,
               count(*) FILTER (WHERE tp.is_completed) AS completions,
               count(*) FILTER (WHERE NOT tp.is_completed AND tp.attempts > 3) AS struggling
        FROM topic_progress tp JOIN topics t ON t.id = tp.topic_id
        WHERE tp.course_id = $1
        GROUP BY t.id, t.title, t.module_no
        HAVING count(*) FILTER (WHERE tp.is_completed) >= $2
        ORDER BY avg_attempts DESC, avg_minutes DESC, t.title
        LIMIT $3
        """,
        course_id, min_completions, limit,
    )
    return [TopicDifficulty(r["title"], r["module_no"], float(r["avg_attempts"] or 0),
                            float(r["avg_minutes"] or 0), r["completions"], r["struggling"])
            for r in rows]


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


@dataclass(frozen=True)
class Dropout:
    started: int
    dropped: int

    @property
    def rate(self) -> float:
        return round(100 * self.dropped / self.started, 1) if self.started else 0.0


async def dropout(conn: asyncpg.Connection, course_id: uuid.UUID, now: datetime,
                  idle_days: int = 30) -> Dropout:
    """Learners who started (touched a topic) but haven't completed and were idle ≥ idle_days."""
    row = await conn.fetchrow(
        """
        WITH started AS (
            SELECT tp.user_id, max(tp.last_accessed_at) AS last_seen
            FROM topic_progress tp WHERE tp.course_id = $1 GROUP BY tp.user_id
        )
        SELECT count(*) AS started,
               count(*) FILTER (WHERE s.last_seen < $2::timestamptz - make_interval(days => $3)
                                AND coalesce(e.status <> 'completed', true)) AS dropped
        FROM started s
        LEFT JOIN enrollments e ON e.user_id = s.user_id AND e.course_id = $1
        """,
        course_id, now, idle_days,
    )
    return Dropout(row["started"], row["dropped"])


async def module_funnel(conn: asyncpg.Connection, course_id: uuid.UUID
                        ) -> list[tuple[int, str, int, int]]:
    """Per module: (number, title, learners who started it, learners who completed it)."""
    rows = await conn.fetch(
        """
        SELECT t.module_no, max(t.module_title) AS title,
               count(DISTINCT tp.user_id) AS started,
               (SELECT count(*) FROM module_progress mp WHERE mp.course_id = $1
                  AND mp.module_no = t.module_no AND mp.completed_at IS NOT NULL) AS completed
        FROM topics t LEFT JOIN topic_progress tp ON tp.topic_id = t.id
        WHERE t.course_id = $1 AND t.archived_at IS NULL
        GROUP BY t.module_no ORDER BY t.module_no
        """,
        course_id,
    )
    return [(r["module_no"], r["title"], r["started"], r["completed"]) for r in rows]


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
