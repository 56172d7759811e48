"""Done on a journey: the compare-and-set on the topic, time spent, XP, streak, badges, the
module and course completion it may bring, and what comes next."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from storage import gamification
from storage.completion import (
    MODULE_JOURNEYS_DONE_SQL,
    finish_course_if_complete,
    refresh_module,
)
from storage.gamification import Badge
from storage.journeys import (
    IDLE_CAP_SECONDS,
    JourneyView,
    OpenJourney,
    lock_owned,
    log_event,
    open_journeys,
    take,
    view,
)
from storage.pg import require_tx


@dataclass(frozen=True)
class DoneResult:
    view: JourneyView
    newly_done: bool
    time_spent_seconds: int
    course_finished: bool
    next_title: str | None
    next_due_at: datetime | None
    xp: int = 0
    streak: int = 0
    badges: tuple[Badge, ...] = ()
    quiz_module: int | None = None  # the module just finished has a quiz to take
    open: tuple[OpenJourney, ...] = ()  # taken journeys still undone, unlocked modules
    missing: tuple[OpenJourney, ...] = ()  # undone journeys blocking this module's end
    not_taken: bool = False  # Done on a journey that can't be taken yet: nothing changed


async def mark_done(
    conn: asyncpg.Connection, delivery_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> DoneResult | None:
    """Compare-and-set on the topic: a repeated or stale Done changes nothing twice. The
    course-user row is locked first, so Done and a concurrent take or claim serialize.
    Call inside a transaction: its statements commit or fail together."""
    require_tx(conn)
    cu = await lock_owned(conn, delivery_id, user_id)
    if cu is None:
        return None
    jv = await view(conn, delivery_id)
    if jv is None or jv.user_id != user_id:
        return None
    if not jv.taken and not jv.completed:
        await take(conn, delivery_id, now)  # Done on a card never opened: take it first
        jv = await view(conn, delivery_id)
        assert jv is not None
        if not jv.taken:
            return DoneResult(jv, False, 0, False, None, cu["next_due_at"], not_taken=True)
    row = None
    if not jv.completed:
        row = await conn.fetchrow(
            """
            UPDATE journey_deliveries d SET done_at = $2,
                opened_at = coalesce(d.opened_at, $2)
            WHERE d.id = $1 AND d.done_at IS NULL
            RETURNING d.id
            """,
            delivery_id, now,
        )
    spent = 0
    xp = streak = 0
    badges: list[Badge] = []
    finished = False
    quiz_module = None
    if row is not None:
        opened = await conn.fetchval(
            "SELECT opened_at FROM topic_progress WHERE user_id = $1 AND topic_id = $2 "
            "FOR UPDATE",
            user_id, jv.topic_id,
        )
        spent = min(IDLE_CAP_SECONDS, max(0, int((now - (opened or now)).total_seconds())))
        await conn.execute(
            """
            INSERT INTO topic_progress AS tp (user_id, course_id, topic_id, attempts,
                is_completed, completed_at, last_position_s, first_started_at,
                last_accessed_at)
            VALUES ($1, $2, $3, 1, true, $4, 100, $4, $4)
            ON CONFLICT (user_id, topic_id) DO UPDATE SET
                time_spent_seconds = tp.time_spent_seconds + $5,
                is_completed = true,
                completed_at = coalesce(tp.completed_at, greatest($4, tp.first_started_at)),
                last_position_s = 100,
                opened_at = NULL,
                last_accessed_at = greatest(tp.last_accessed_at, $4)
            """,
            user_id, jv.course_id, jv.topic_id, now, spent,
        )
        await conn.execute(
            """
            INSERT INTO module_progress (user_id, course_id, module_no, videos_completed,
                                         unlocked_at)
            VALUES ($1, $2, $3, 1, $4)
            ON CONFLICT (user_id, course_id, module_no) DO UPDATE SET
                videos_completed = (
                    SELECT count(*) FROM topic_progress tp JOIN topics t ON t.id = tp.topic_id
                    WHERE tp.user_id = $1 AND t.course_id = $2 AND t.module_no = $3
                      AND tp.is_completed AND t.archived_at IS NULL)
            """,
            user_id, jv.course_id, jv.module_no, now,
        )
        await log_event(conn, jv, "journey.done", now, {"seconds": spent})
        xp = await gamification.award_xp(
            conn, user_id, jv.course_id, f"topic:{jv.topic_id}",
            await gamification.journey_xp(conn, jv.topic_id))
        streak = await gamification.bump_streak(conn, user_id, now)
        badges += await gamification.streak_badges(conn, user_id, streak)
        completed, won = await refresh_module(conn, user_id, jv.course_id, jv.module_no, now)
        badges += won
        if completed:
            finished, won = await finish_course_if_complete(conn, user_id, jv.course_id,
                                                            now)
            badges += won
        else:
            quiz_module = await _pending_quiz(conn, user_id, jv)
    nxt = await conn.fetchrow(
        """
        SELECT coalesce(tt.title, t.title) AS title
        FROM journeys j JOIN topics t ON t.id = j.topic_id
        LEFT JOIN topic_translations tt ON tt.topic_id = t.id
             AND tt.language = (SELECT locale FROM users WHERE id = $3)
        WHERE j.course_id = $1 AND j.is_active AND j.priority > $2
        ORDER BY j.priority LIMIT 1
        """,
        jv.course_id, jv.priority, user_id,
    )
    due = await conn.fetchval(
        "SELECT next_due_at FROM course_user_schedule WHERE course_user_id = $1",
        jv.course_user_id,
    )
    still_open = tuple(await open_journeys(conn, jv.course_user_id))
    missing: tuple[OpenJourney, ...] = ()
    last_of_module = await conn.fetchval(
        """
        SELECT NOT EXISTS (SELECT 1 FROM journeys j JOIN topics t ON t.id = j.topic_id
                           WHERE j.course_id = $1 AND j.is_active AND j.priority > $2
                             AND t.module_no = $3)
        """,
        jv.course_id, jv.priority, jv.module_no,
    )
    if last_of_module:
        missing = tuple(o for o in still_open if o.module_no == jv.module_no)
    view_after = await view(conn, delivery_id)
    assert view_after is not None
    return DoneResult(
        view_after, row is not None, spent or 0, finished, nxt["title"] if nxt else None,
        due, xp, streak, tuple(badges), quiz_module, still_open, missing,
    )


async def _pending_quiz(conn: asyncpg.Connection, user_id: uuid.UUID, jv: JourneyView
                        ) -> int | None:
    """The module's journeys are all done but its quiz isn't passed yet: time for the quiz."""
    ready = await conn.fetchval(
        f"""
        SELECT {MODULE_JOURNEYS_DONE_SQL}
           AND EXISTS (SELECT 1 FROM quiz_questions q WHERE q.course_id = $2
                       AND q.module_no = $3)
           AND NOT EXISTS (SELECT 1 FROM module_progress mp WHERE mp.user_id = $1
                           AND mp.course_id = $2 AND mp.module_no = $3 AND mp.quiz_passed)
        """,
        user_id, jv.course_id, jv.module_no,
    )
    return jv.module_no if ready else None
