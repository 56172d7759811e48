"""Enrollment, the daily journey (pulled or pushed), and Done — seed 000's one-per-day rule.

The guarantee lives in `journey_deliveries`' unique (course_user_id, local_date): whichever of
the scheduler's claim and a learner's `/today` gets there first creates the day's row, and the
other finds it. Advancing `last_priority` happens in the same statement that creates the row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

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


# --- enrollment ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Enrollment:
    course_user_id: uuid.UUID
    created: bool


async def enroll(
    conn: asyncpg.Connection, user_id: uuid.UUID, course_id: uuid.UUID, now: datetime
) -> Enrollment:
    """Idempotent: a second enroll (double tap, retried update) returns the same course-user."""
    async with conn.transaction():
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
            INSERT INTO course_users (user_id, course_id, next_due_at)
            SELECT u.id, $2, {next_due_sql("u.timezone", "u.delivery_hour", "$3::timestamptz")}
            FROM users u WHERE u.id = $1
            ON CONFLICT (course_id, user_id) DO NOTHING
            RETURNING id
            """,
            user_id, course_id, now,
        )
        if row:
            return Enrollment(row["id"], True)
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


async def course_users_of(conn: asyncpg.Connection, user_id: uuid.UUID) -> list[CourseUser]:
    rows = await conn.fetch(
        """
        SELECT cu.id, cu.course_id, c.slug, c.title, cu.completed_at, cu.next_due_at
        FROM course_users cu JOIN courses c ON c.id = cu.course_id
        WHERE cu.user_id = $1 ORDER BY cu.created_at
        """,
        user_id,
    )
    return [CourseUser(**dict(r)) for r in rows]


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


# --- scheduled delivery ----------------------------------------------------------------------

_CLAIM_SQL = f"""
WITH due AS (
    SELECT cu.id, cu.user_id, cu.course_id, cu.last_priority, u.timezone, u.delivery_hour
    FROM course_users cu JOIN users u ON u.id = cu.user_id
    WHERE cu.next_due_at <= $1 AND cu.completed_at IS NULL
      AND u.is_reachable AND NOT u.paused AND u.telegram_id IS NOT NULL
    ORDER BY cu.next_due_at
    LIMIT $2
    FOR UPDATE OF cu SKIP LOCKED
), nxt AS (
    SELECT d.*, j.id AS journey_id, j.priority, j.unlocked
    FROM due d
    LEFT JOIN LATERAL (
        SELECT j.id, j.priority, {unlocked_sql("d.user_id")} AS unlocked
        FROM journeys j JOIN topics t ON t.id = j.topic_id
        WHERE j.course_id = d.course_id AND j.is_active
          AND j.priority > coalesce(d.last_priority, {MIN_PRIORITY})
        ORDER BY j.priority LIMIT 1
    ) j ON true
), ins AS (
    INSERT INTO journey_deliveries (course_user_id, journey_id, local_date, source, status,
                                    claimed_by, claimed_at, visible_at, attempts)
    SELECT n.id, n.journey_id, ($1 AT TIME ZONE n.timezone)::date, 'scheduled', 'claimed',
           $3, $1, $1 + make_interval(secs => $4), 1
    FROM nxt n WHERE n.journey_id IS NOT NULL AND n.unlocked
    ON CONFLICT (course_user_id, local_date) DO NOTHING
    RETURNING id, course_user_id
), upd AS (
    UPDATE course_users cu SET
        last_priority = CASE WHEN ins.id IS NULL THEN cu.last_priority ELSE n.priority END,
        last_journey_at = CASE WHEN ins.id IS NULL THEN cu.last_journey_at ELSE $1 END,
        next_due_at = CASE WHEN n.journey_id IS NULL THEN NULL
                           ELSE {next_due_sql("n.timezone", "n.delivery_hour", "$1")} END,
        completed_at = CASE WHEN n.journey_id IS NULL THEN $1 ELSE NULL END
    FROM nxt n LEFT JOIN ins ON ins.course_user_id = n.id
    WHERE cu.id = n.id
)
SELECT id FROM ins
"""

_RECLAIM_SQL = """
UPDATE journey_deliveries d
SET claimed_by = $3, visible_at = $1 + make_interval(secs => $4), attempts = d.attempts + 1
WHERE d.id IN (
    SELECT id FROM journey_deliveries
    WHERE status = 'claimed' AND visible_at <= $1
    ORDER BY visible_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
RETURNING d.id, d.attempts
"""


async def claim_due(
    conn: asyncpg.Connection, *, now: datetime, limit: int, worker: str,
    visibility_seconds: float,
) -> list[uuid.UUID]:
    """Claim up to `limit` due course-users in one statement; return the new deliveries."""
    rows = await conn.fetch(_CLAIM_SQL, now, limit, worker, float(visibility_seconds))
    return [r["id"] for r in rows]


async def reclaim_expired(
    conn: asyncpg.Connection, *, now: datetime, limit: int, worker: str,
    visibility_seconds: float, max_attempts: int,
) -> list[uuid.UUID]:
    """Take back deliveries whose worker died or whose retry time came; give up after a limit."""
    async with conn.transaction():
        rows = await conn.fetch(_RECLAIM_SQL, now, limit, worker, float(visibility_seconds))
        give_up = [r["id"] for r in rows if r["attempts"] > max_attempts]
        if give_up:
            await conn.execute(
                """
                UPDATE journey_deliveries SET status = 'failed',
                    last_error = coalesce(last_error, '') || ' (gave up after retries)'
                WHERE id = ANY($1::uuid[])
                """,
                give_up,
            )
    return [r["id"] for r in rows if r["attempts"] <= max_attempts]


async def mark_sent(
    conn: asyncpg.Connection, delivery_id: uuid.UUID, *, chat_id: int, message_id: int,
    now: datetime,
) -> None:
    jv_row = await conn.fetchrow(
        """
        UPDATE journey_deliveries SET status = 'sent', sent_at = $2, chat_id = $3,
            message_id = $4, last_error = NULL
        WHERE id = $1 AND status = 'claimed'
        RETURNING id
        """,
        delivery_id, now, chat_id, message_id,
    )
    if jv_row:
        jv = await view(conn, delivery_id)
        if jv:
            await log_event(conn, jv, "journey.sent", now, {})


async def mark_retry(
    conn: asyncpg.Connection, delivery_id: uuid.UUID, *, error: str, retry_at: datetime
) -> None:
    await conn.execute(
        """
        UPDATE journey_deliveries SET visible_at = $2, last_error = $3
        WHERE id = $1 AND status = 'claimed'
        """,
        delivery_id, retry_at, error[:500],
    )


async def mark_failed(
    conn: asyncpg.Connection, delivery_id: uuid.UUID, *, error: str, unreachable: bool
) -> None:
    async with conn.transaction():
        user_id = await conn.fetchval(
            """
            UPDATE journey_deliveries d SET status = 'failed', last_error = $2
            FROM course_users cu
            WHERE d.id = $1 AND cu.id = d.course_user_id AND d.status = 'claimed'
            RETURNING cu.user_id
            """,
            delivery_id, error[:500],
        )
        if unreachable and user_id:
            await conn.execute(
                "UPDATE users SET is_reachable = false, unreachable_at = now() WHERE id = $1",
                user_id,
            )


def backoff(attempt: int, base: float = 5.0, cap: float = 900.0) -> timedelta:
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempt - 1)))


# --- progress --------------------------------------------------------------------------------

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


async def progress(conn: asyncpg.Connection, user_id: uuid.UUID) -> list[CourseProgress]:
    rows = await conn.fetch(
        f"""
        SELECT cu.course_id, c.slug, c.title AS course_title, cu.completed_at, cu.next_due_at,
               t.module_no, max(t.module_title) AS module_title,
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
        JOIN topics t ON t.course_id = cu.course_id AND t.archived_at IS NULL
        LEFT JOIN topic_progress tp ON tp.topic_id = t.id AND tp.user_id = cu.user_id
        LEFT JOIN module_progress mp ON mp.user_id = cu.user_id AND mp.course_id = cu.course_id
                                    AND mp.module_no = t.module_no
        WHERE cu.user_id = $1
        GROUP BY cu.course_id, c.slug, c.title, cu.completed_at, cu.next_due_at, cu.created_at,
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
