"""A learner's progress per course and module, as `/progress` shows it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from storage.completion import unlocked_sql
from storage.reads import Reader


@dataclass(frozen=True)
class ModuleStatus:
    module_no: int
    title: str
    total: int
    done: int
    started: bool
    unlocked: bool = True
    has_quiz: bool = False
    quiz_passed: bool = False
    completed_at: datetime | None = None
    unlocked_at: datetime | None = None
    cooldown_until: datetime | None = None


@dataclass(frozen=True)
class CourseProgress:
    course_id: uuid.UUID
    slug: str
    title: str
    total: int
    done: int
    modules: list[ModuleStatus]
    completed_at: datetime | None
    next_due_at: datetime | None
    time_spent_seconds: int

    @property
    def modules_complete(self) -> int:
        return sum(1 for m in self.modules if m.completed_at)

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


async def progress(conn: Reader, user_id: uuid.UUID) -> list[CourseProgress]:
    rows = await conn.fetch(
        f"""
        SELECT cu.course_id, c.slug,
               course_title(c.id, (SELECT locale FROM users WHERE id = $1)) AS course_title,
               cu.completed_at, s.next_due_at,
               t.module_no, max(coalesce(tt.module_title, t.module_title)) AS module_title,
               count(*) AS total,
               count(*) FILTER (WHERE tp.is_completed) AS done,
               count(tp.id) AS started,
               coalesce(sum(tp.time_spent_seconds), 0) AS seconds,
               bool_or({unlocked_sql("cu.user_id")}) AS unlocked,
               EXISTS (SELECT 1 FROM quiz_questions q WHERE q.course_id = cu.course_id
                       AND q.module_no = t.module_no) AS has_quiz,
               coalesce(max(mp.quiz_passed::int), 0) = 1 AS quiz_passed,
               max(mp.completed_at) AS module_completed_at,
               max(mp.unlocked_at) AS unlocked_at,
               max(mp.cooldown_until) AS cooldown_until
        FROM course_users cu
        JOIN courses c ON c.id = cu.course_id
        LEFT JOIN course_user_schedule s ON s.course_user_id = cu.id
        JOIN topics t ON t.course_id = cu.course_id AND t.archived_at IS NULL
        -- module titles in the learner's language where the course has them
        LEFT JOIN topic_translations tt ON tt.topic_id = t.id
             AND tt.language = (SELECT locale FROM users WHERE id = $1)
        LEFT JOIN topic_progress tp ON tp.topic_id = t.id AND tp.user_id = cu.user_id
        LEFT JOIN module_progress mp ON mp.user_id = cu.user_id AND mp.course_id = cu.course_id
                                    AND mp.module_no = t.module_no
        WHERE cu.user_id = $1 AND cu.left_at IS NULL
        GROUP BY cu.course_id, c.id, c.slug, cu.completed_at, s.next_due_at, cu.created_at,
                 t.module_no
        ORDER BY cu.created_at, t.module_no
        """,
        user_id,
    )
    out: dict[uuid.UUID, dict] = {}
    for r in rows:
        entry = out.setdefault(r["course_id"], {
            "course_id": r["course_id"], "slug": r["slug"], "title": r["course_title"],
            "total": 0, "done": 0, "modules": [], "completed_at": r["completed_at"],
            "next_due_at": r["next_due_at"], "time_spent_seconds": 0,
        })
        entry["total"] += r["total"]
        entry["done"] += r["done"]
        entry["time_spent_seconds"] += int(r["seconds"])
        entry["modules"].append(
            ModuleStatus(r["module_no"], r["module_title"], r["total"], r["done"],
                         r["started"] > 0, r["unlocked"], r["has_quiz"], r["quiz_passed"],
                         r["module_completed_at"], r["unlocked_at"], r["cooldown_until"])
        )
    return [CourseProgress(**e) for e in out.values()]
