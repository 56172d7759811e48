"""The daily journey (pulled or pushed), opening it, and Done — seed 000's one-per-day rule.

The guarantee lives in `journey_deliveries`' unique (course_user_id, local_date): whichever of
the scheduler's claim and a learner's `/today` gets there first creates the day's row, and the
other finds it. Advancing `last_priority` happens in the same statement that creates the row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from storage import activity, gamification
from storage.completion import (
    MODULE_JOURNEYS_DONE_SQL,
    finish_course_if_complete,
    refresh_module,
    unlocked_sql,
)
from storage.gamification import Badge
from storage.users import next_due_sql

MIN_PRIORITY = -2_147_483_648
IDLE_CAP_SECONDS = 30 * 60  # time between open and Done counts at most this much

# Persona-specific text when the learner picked a persona and the course has a variant.
_BODY_SQL = """
    coalesce((SELECT a.payload ->> 'text' FROM topic_content_assets a
              JOIN topic_personalization tp ON tp.persona = a.persona_key
              WHERE a.topic_id = t.id AND a.content_key = 'body'
                AND tp.user_id = cu.user_id AND tp.course_id = cu.course_id),
             t.text_content)
"""

_VIEW_SELECT = f"""
    SELECT d.id AS delivery_id, d.course_user_id, d.local_date, d.status::text AS status,
           d.source::text AS source, d.opened_at, d.done_at, d.attempts,
           cu.user_id, u.telegram_id, u.timezone, cu.course_id, c.slug AS course_slug,
           c.title AS course_title, t.id AS topic_id, t.title AS topic_title, t.module_no,
           t.module_title, t.topic_number, j.priority, {_BODY_SQL} AS body,
           (SELECT count(*) FROM journeys j2 WHERE j2.course_id = cu.course_id
                AND j2.is_active) AS total,
           (SELECT count(*) FROM journeys j2 WHERE j2.course_id = cu.course_id
                AND j2.is_active AND j2.priority <= j.priority) AS position
    FROM journey_deliveries d
    JOIN course_users cu ON cu.id = d.course_user_id
    JOIN users u ON u.id = cu.user_id
    JOIN courses c ON c.id = cu.course_id
    JOIN journeys j ON j.id = d.journey_id
    JOIN topics t ON t.id = j.topic_id
"""


@dataclass(frozen=True)
class JourneyView:
    delivery_id: uuid.UUID
    course_user_id: uuid.UUID
    local_date: date
    status: str
    source: str
    opened_at: datetime | None
    done_at: datetime | None
    attempts: int
    user_id: uuid.UUID
    telegram_id: int
    timezone: str
    course_id: uuid.UUID
    course_slug: str
    course_title: str
    topic_id: uuid.UUID
    topic_title: str
    module_no: int
    module_title: str
    topic_number: int
    priority: int
    body: str
    total: int
    position: int

    @classmethod
    def from_record(cls, r: asyncpg.Record) -> JourneyView:
        return cls(**dict(r))


async def views(conn: asyncpg.Connection, delivery_ids: list[uuid.UUID]) -> list[JourneyView]:
    rows = await conn.fetch(f"{_VIEW_SELECT} WHERE d.id = ANY($1::uuid[])", delivery_ids)
    return [JourneyView.from_record(r) for r in rows]


async def view(conn: asyncpg.Connection, delivery_id: uuid.UUID) -> JourneyView | None:
    found = await views(conn, [delivery_id])
    return found[0] if found else None


# --- pulling today's journey -----------------------------------------------------------------

@dataclass(frozen=True)
class TodayResult:
    view: JourneyView | None
    fresh: bool  # False: the day's journey already existed and is shown again
    finished: bool  # no journey left in the course
    locked_after: int | None = None  # next journey waits for this module to be completed


async def today(conn: asyncpg.Connection, course_user_id: uuid.UUID, now: datetime) -> TodayResult:
    """Today's journey for one course-user: the existing one for the local date, else the next."""
    async with conn.transaction():
        cu = await conn.fetchrow(
            """
            SELECT cu.id, cu.course_id, cu.last_priority, u.timezone
            FROM course_users cu JOIN users u ON u.id = cu.user_id
            WHERE cu.id = $1 FOR UPDATE OF cu
            """,
            course_user_id,
        )
        if cu is None:
            return TodayResult(None, False, False)
        existing = await conn.fetchval(
            """
            SELECT id FROM journey_deliveries
            WHERE course_user_id = $1 AND local_date = ($2::timestamptz AT TIME ZONE $3)::date
            """,
            course_user_id, now, cu["timezone"],
        )
        if existing:
            await conn.execute(
                "UPDATE journey_deliveries SET opened_at = coalesce(opened_at, $2) WHERE id = $1",
                existing, now,
            )
            await _touch_progress(conn, existing, now)
            return TodayResult(await view(conn, existing), False, False)
        last = cu["last_priority"]
        nxt = await conn.fetchrow(
            f"""
            SELECT j.id, j.priority, t.module_no, {unlocked_sql("cu.user_id")} AS unlocked
            FROM journeys j JOIN topics t ON t.id = j.topic_id
            JOIN course_users cu ON cu.id = $1
            WHERE j.course_id = $2 AND j.is_active AND j.priority > $3
            ORDER BY j.priority LIMIT 1
            """,
            course_user_id, cu["course_id"], MIN_PRIORITY if last is None else last,
        )
        if nxt is None:
            return TodayResult(None, False, True)
        if not nxt["unlocked"]:
            return TodayResult(None, False, False, locked_after=nxt["module_no"] - 1)
        # The course-user row is locked, so the journey found above is still the next one.
        inserted = await conn.fetchrow(
            f"""
            WITH ins AS (
                INSERT INTO journey_deliveries (course_user_id, journey_id, local_date, source,
                                                status, sent_at, opened_at, attempts)
                VALUES ($1, $2, ($4::timestamptz AT TIME ZONE $5)::date, 'pulled', 'sent',
                        $4, $4, 1)
                ON CONFLICT (course_user_id, local_date) DO NOTHING
                RETURNING id
            )
            UPDATE course_users cu SET
                last_priority = $3, last_journey_at = $4,
                next_due_at = {next_due_sql("u.timezone", "u.delivery_hour", "$4::timestamptz")}
            FROM ins, users u
            WHERE cu.id = $1 AND u.id = cu.user_id
            RETURNING ins.id
            """,
            course_user_id, nxt["id"], nxt["priority"], now, cu["timezone"],
        )
        if inserted is None:
            return TodayResult(None, False, True)
        delivery_id = inserted["id"]
        await _touch_progress(conn, delivery_id, now)
        jv = await view(conn, delivery_id)
        assert jv is not None
        await log_event(conn, jv, "journey.opened", now, {"source": "pulled"})
        return TodayResult(jv, True, False)


async def _touch_progress(conn: asyncpg.Connection, delivery_id: uuid.UUID, now: datetime) -> None:
    """Start (or restart) the clock on the topic; every fresh opening counts one attempt."""
    await conn.execute(
        """
        INSERT INTO topic_progress (user_id, course_id, topic_id, opened_at, attempts,
                                    first_started_at, last_accessed_at)
        SELECT cu.user_id, cu.course_id, j.topic_id, $2, 1, $2, $2
        FROM journey_deliveries d
        JOIN course_users cu ON cu.id = d.course_user_id
        JOIN journeys j ON j.id = d.journey_id
        WHERE d.id = $1
        ON CONFLICT (user_id, topic_id) DO UPDATE SET
            attempts = topic_progress.attempts
                       + CASE WHEN topic_progress.opened_at IS NULL THEN 1 ELSE 0 END,
            opened_at = coalesce(topic_progress.opened_at, $2),
            last_accessed_at = greatest(topic_progress.last_accessed_at, $2)
        """,
        delivery_id, now,
    )


async def open_delivery(
    conn: asyncpg.Connection, delivery_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> JourneyView | None:
    """The learner pressed Start on a pushed card. Only the owner may open it."""
    async with conn.transaction():
        row = await conn.fetchrow(
            """
            UPDATE journey_deliveries d SET opened_at = coalesce(d.opened_at, $3)
            FROM course_users cu
            WHERE d.id = $1 AND cu.id = d.course_user_id AND cu.user_id = $2
            RETURNING d.id, (d.opened_at = $3) AS first_open
            """,
            delivery_id, user_id, now,
        )
        if row is None:
            return None
        await _touch_progress(conn, delivery_id, now)
        jv = await view(conn, delivery_id)
        if jv and row["first_open"]:
            await log_event(conn, jv, "journey.opened", now, {"source": jv.source})
        return jv


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


async def mark_done(
    conn: asyncpg.Connection, delivery_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> DoneResult | None:
    """Compare-and-set on the delivery: a repeated or stale Done changes nothing twice."""
    async with conn.transaction():
        row = await conn.fetchrow(
            """
            UPDATE journey_deliveries d SET done_at = $3, opened_at = coalesce(d.opened_at, $3)
            FROM course_users cu
            WHERE d.id = $1 AND cu.id = d.course_user_id AND cu.user_id = $2
              AND d.done_at IS NULL
            RETURNING d.id
            """,
            delivery_id, user_id, now,
        )
        jv = await view(conn, delivery_id)
        if jv is None or jv.user_id != user_id:
            return None
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
            SELECT t.title FROM journeys j JOIN topics t ON t.id = j.topic_id
            WHERE j.course_id = $1 AND j.is_active AND j.priority > $2
            ORDER BY j.priority LIMIT 1
            """,
            jv.course_id, jv.priority,
        )
        due = await conn.fetchval(
            "SELECT next_due_at FROM course_users WHERE id = $1", jv.course_user_id
        )
        return DoneResult(
            jv, row is not None, spent or 0, finished, nxt["title"] if nxt else None, due,
            xp, streak, tuple(badges), quiz_module,
        )


async def _pending_quiz(conn: asyncpg.Connection, user_id: uuid.UUID, jv: JourneyView
                        ) -> int | None:
    """The module's journeys are all done but its quiz isn't passed yet: time for the quiz."""
    ready = await conn.fetchval(
        f"""
        SELECT {MODULE_JOURNEYS_DONE_SQL}
           AND EXISTS (SELECT 1 FROM quiz_questions q WHERE q.course_id = $2
                       AND q.module_no = $3)
        """,
        user_id, jv.course_id, jv.module_no,
    )
    return jv.module_no if ready else None


async def log_event(
    conn: asyncpg.Connection, jv: JourneyView, kind: str, now: datetime, payload: dict
) -> None:
    await activity.log(conn, user_id=jv.user_id, course_id=jv.course_id, topic_id=jv.topic_id,
                       event_type=kind, payload=payload, at=now)
