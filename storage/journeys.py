"""The daily journey (pulled or pushed), taking it, and Done — seed 000's one-per-day rule.

`journey_deliveries`' unique (course_user_id, local_date) keeps one card a local day: whichever
of the scheduler's claim and a learner's `/today` gets there first creates the day's row, and
the other finds it. Sending a card does not advance the learner; *taking* it does (opening it
with Start or `/today`): a compare-and-set that moves `last_priority` to the immediate next
journey, at most once per local date (`last_taken_on`). What a day offers is `offer_sql`: the
next journey when it may be taken today, else the earliest taken journey still undone.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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

MIN_PRIORITY = -2_147_483_648
IDLE_CAP_SECONDS = 30 * 60  # time between open and Done counts at most this much

# The topic in the learner's language when the course has it (`tt`: topic_translations joined
# on users.locale); else the persona-specific text when the learner picked a persona and the
# course has a variant (variants are written in the default language only); else the topic.
_BODY_SQL = """
    coalesce(tt.body, (SELECT a.payload ->> 'text' FROM topic_content_assets a
              JOIN topic_personalization tp ON tp.persona = a.persona_key
              WHERE a.topic_id = t.id AND a.content_key = 'body'
                AND tp.user_id = cu.user_id AND tp.course_id = cu.course_id),
             t.text_content)
"""

_VIEW_SELECT = f"""
    SELECT d.id AS delivery_id, d.course_user_id, d.local_date, d.status::text AS status,
           d.source::text AS source, d.kind::text AS kind, d.opened_at, d.done_at, d.attempts,
           cu.user_id, u.telegram_id, u.timezone, cu.course_id, c.slug AS course_slug,
           c.title AS course_title, t.id AS topic_id,
           coalesce(tt.title, t.title) AS topic_title, t.module_no,
           coalesce(tt.module_title, t.module_title) AS module_title, t.topic_number,
           j.priority, {_BODY_SQL} AS body,
           (SELECT count(*) FROM journeys j2 WHERE j2.course_id = cu.course_id
                AND j2.is_active) AS total,
           (SELECT count(*) FROM journeys j2 WHERE j2.course_id = cu.course_id
                AND j2.is_active AND j2.priority <= j.priority) AS position,
           EXISTS (SELECT 1 FROM journey_deliveries d2 WHERE d2.course_user_id = d.course_user_id
                   AND d2.journey_id = d.journey_id AND d2.local_date < d.local_date) AS waiting,
           coalesce(j.priority <= cu.last_priority, false) AS taken,
           EXISTS (SELECT 1 FROM topic_progress tp WHERE tp.user_id = cu.user_id
                   AND tp.topic_id = t.id AND tp.is_completed) AS completed,
           u.locale
    FROM journey_deliveries d
    JOIN course_users cu ON cu.id = d.course_user_id
    JOIN users u ON u.id = cu.user_id
    JOIN courses c ON c.id = cu.course_id
    JOIN journeys j ON j.id = d.journey_id
    JOIN topics t ON t.id = j.topic_id
    LEFT JOIN topic_translations tt ON tt.topic_id = t.id AND tt.language = u.locale
"""


@dataclass(frozen=True)
class JourneyView:
    delivery_id: uuid.UUID
    course_user_id: uuid.UUID
    local_date: date
    status: str
    source: str
    kind: str
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
    waiting: bool = False  # offered on an earlier day too: "still waiting for you"
    taken: bool = False  # the learner has taken this journey (opened it)
    completed: bool = False  # its topic is done
    locale: str = "en"  # the learner's language: a card sent outside an update speaks it

    @classmethod
    def from_record(cls, r: asyncpg.Record) -> JourneyView:
        return cls(**dict(r))


async def views(conn: asyncpg.Connection, delivery_ids: list[uuid.UUID]) -> list[JourneyView]:
    rows = await conn.fetch(f"{_VIEW_SELECT} WHERE d.id = ANY($1::uuid[])", delivery_ids)
    return [JourneyView.from_record(r) for r in rows]


async def view(conn: asyncpg.Connection, delivery_id: uuid.UUID) -> JourneyView | None:
    found = await views(conn, [delivery_id])
    return found[0] if found else None


# --- what a day offers -------------------------------------------------------------------------

def local_date_sql(tz: str, now: str) -> str:
    return f"(({now}::timestamptz AT TIME ZONE {tz})::date)"


_DONE_SQL = """EXISTS (SELECT 1 FROM topic_progress tp WHERE tp.topic_id = j.topic_id
                       AND tp.user_id = {cu}.user_id AND tp.is_completed)"""

# The journey a day offers a course-user (`{cu}` has id, user_id, course_id, last_priority,
# last_taken_on; `{tz}` the learner's zone; `{now}` the instant): the next journey when its module
# is unlocked and no new journey was taken on this local date, else the earliest taken journey
# that isn't done, in an unlocked module. Columns: journey_id, priority, is_new.
OFFER_SQL = """
    (SELECT o.id AS journey_id, o.priority, o.is_new FROM (
        SELECT n.id, n.priority, true AS is_new FROM (
            SELECT j.id, j.priority, {unlocked} AS unlocked
            FROM journeys j JOIN topics t ON t.id = j.topic_id
            WHERE j.course_id = {cu}.course_id AND j.is_active
              AND j.priority > coalesce({cu}.last_priority, {min})
            ORDER BY j.priority LIMIT 1) n
        WHERE n.unlocked AND ({cu}.last_taken_on IS NULL OR {cu}.last_taken_on < {today})
        UNION ALL
        (SELECT j.id, j.priority, false AS is_new
         FROM journeys j JOIN topics t ON t.id = j.topic_id
         WHERE j.course_id = {cu}.course_id AND j.is_active
           AND j.priority <= coalesce({cu}.last_priority, {min})
           AND {unlocked} AND NOT {done}
         ORDER BY j.priority LIMIT 1)
    ) o ORDER BY o.is_new DESC LIMIT 1)
"""


def offer_sql(cu: str, tz: str, now: str) -> str:
    return OFFER_SQL.format(cu=cu, min=MIN_PRIORITY, today=local_date_sql(tz, now),
                            unlocked=unlocked_sql(f"{cu}.user_id"), done=_DONE_SQL.format(cu=cu))


# The immediate next journey of `{cu}`, whether or not it may be taken now.
NEXT_SQL = """
    (SELECT j.id FROM journeys j WHERE j.course_id = {cu}.course_id AND j.is_active
       AND j.priority > coalesce({cu}.last_priority, {min})
     ORDER BY j.priority LIMIT 1)
"""


async def take(conn: asyncpg.Connection, delivery_id: uuid.UUID, now: datetime) -> bool:
    """Take the delivery's journey: a compare-and-set that succeeds only when it is the
    immediate next journey, its module is unlocked and no new journey was taken on the
    learner's local date. Advances `last_priority` and `last_journey_at`."""
    row = await conn.fetchrow(
        f"""
        UPDATE course_users cu SET last_priority = j.priority, last_journey_at = $2,
               last_taken_on = {local_date_sql("u.timezone", "$2")}
        FROM journey_deliveries d, journeys j, topics t, users u
        WHERE d.id = $1 AND cu.id = d.course_user_id AND j.id = d.journey_id
          AND t.id = j.topic_id AND u.id = cu.user_id
          AND j.id = {NEXT_SQL.format(cu="cu", min=MIN_PRIORITY)}
          AND {unlocked_sql("cu.user_id")}
          AND (cu.last_taken_on IS NULL
               OR cu.last_taken_on < {local_date_sql("u.timezone", "$2")})
        RETURNING cu.last_taken_on
        """,
        delivery_id, now,
    )
    if row is None:
        return False
    await conn.execute("UPDATE journey_deliveries SET taken_at = $2 WHERE id = $1",
                       delivery_id, now)
    jv = await view(conn, delivery_id)
    assert jv is not None
    await log_event(conn, jv, "journey.taken", now, {"local_date": row[0].isoformat()})
    return True


@dataclass(frozen=True)
class OpenJourney:
    """A taken journey that isn't done, with the latest delivery that opens it again."""

    delivery_id: uuid.UUID
    topic_title: str
    module_no: int
    position: int


async def open_journeys(conn: asyncpg.Connection, course_user_id: uuid.UUID,
                        module_no: int | None = None) -> list[OpenJourney]:
    """Taken-but-undone journeys in unlocked modules (of one module, if given), in order."""
    rows = await conn.fetch(
        f"""
        SELECT DISTINCT ON (j.priority) d.id AS delivery_id,
               coalesce(tt.title, t.title) AS topic_title, t.module_no,
               (SELECT count(*) FROM journeys j2 WHERE j2.course_id = j.course_id
                    AND j2.is_active AND j2.priority <= j.priority) AS position
        FROM course_users cu
        JOIN users u ON u.id = cu.user_id
        JOIN journeys j ON j.course_id = cu.course_id AND j.is_active
        JOIN topics t ON t.id = j.topic_id
        LEFT JOIN topic_translations tt ON tt.topic_id = t.id AND tt.language = u.locale
        JOIN journey_deliveries d ON d.course_user_id = cu.id AND d.journey_id = j.id
        WHERE cu.id = $1 AND j.priority <= coalesce(cu.last_priority, {MIN_PRIORITY})
          AND ($2::int IS NULL OR t.module_no = $2)
          AND {unlocked_sql("cu.user_id")} AND NOT {_DONE_SQL.format(cu="cu")}
        ORDER BY j.priority, d.local_date DESC
        """,
        course_user_id, module_no,
    )
    return [OpenJourney(**dict(r)) for r in rows]


_PENDING_QUIZ_SQL = """
    SELECT min(q.module_no) FROM quiz_questions q
    WHERE q.course_id = $2
      AND NOT EXISTS (SELECT 1 FROM module_progress mp WHERE mp.user_id = $1
                      AND mp.course_id = $2 AND mp.module_no = q.module_no
                      AND mp.quiz_passed)
      AND NOT EXISTS (SELECT 1 FROM topics t WHERE t.course_id = $2
                      AND t.module_no = q.module_no AND t.archived_at IS NULL
                      AND NOT EXISTS (SELECT 1 FROM topic_progress tp
                                      WHERE tp.topic_id = t.id AND tp.user_id = $1
                                        AND tp.is_completed))
"""


async def pending_quiz(conn: asyncpg.Connection, user_id: uuid.UUID, course_id: uuid.UUID
                       ) -> int | None:
    """The first module whose journeys are all done but whose quiz isn't passed yet."""
    return await conn.fetchval(_PENDING_QUIZ_SQL, user_id, course_id)


# --- pulling today's journey -----------------------------------------------------------------

@dataclass(frozen=True)
class TodayResult:
    view: JourneyView | None
    fresh: bool  # False: the day's journey already existed and is shown again
    finished: bool  # no journey left in the course
    locked_after: int | None = None  # next journey waits for this module to be completed
    open: tuple[OpenJourney, ...] = ()  # other taken journeys still undone (buttons)
    missing: tuple[OpenJourney, ...] = ()  # the undone journeys of the module `locked_after`
    quiz_module: int | None = None  # a module whose quiz is the next step
    next_due_at: datetime | None = None


async def _lock(conn: asyncpg.Connection, course_user_id: uuid.UUID,
                now: datetime | None = None) -> asyncpg.Record | None:
    """The course-user, locked; with `now`, also `existing`: the day's delivery (if any) on
    the learner's local date."""
    return await conn.fetchrow(
        f"""
        SELECT cu.id, cu.user_id, cu.course_id, cu.last_priority, cu.last_taken_on,
               cu.next_due_at, u.timezone,
               CASE WHEN $2::timestamptz IS NOT NULL THEN
                   (SELECT d.id FROM journey_deliveries d WHERE d.course_user_id = cu.id
                      AND d.local_date = {local_date_sql("u.timezone", "$2::timestamptz")})
               END AS existing
        FROM course_users cu JOIN users u ON u.id = cu.user_id
        WHERE cu.id = $1 FOR UPDATE OF cu
        """,
        course_user_id, now,
    )


@asynccontextmanager
async def _atomic(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """A transaction, unless the caller's unit of work already is one (no savepoint round
    trips: a failure aborts the caller's transaction all the same)."""
    if conn.is_in_transaction():
        yield
        return
    async with conn.transaction():
        yield


async def today(conn: asyncpg.Connection, course_user_id: uuid.UUID, now: datetime) -> TodayResult:
    """Today's journey for one course-user: the day's existing one, else what the day offers
    (opening it takes it when it is the next journey); plus what else is open."""
    async with _atomic(conn):
        cu = await _lock(conn, course_user_id, now)
        if cu is None:
            return TodayResult(None, False, False)
        existing = cu["existing"]
        fresh = False
        delivery_id = existing
        if existing is None:
            offer = await conn.fetchrow(
                f"SELECT o.* FROM course_users cu, LATERAL {offer_sql('cu', '$3', '$2')} o "
                "WHERE cu.id = $1",
                course_user_id, now, cu["timezone"],
            )
            if offer is not None:
                delivery_id = await conn.fetchval(
                    f"""
                    INSERT INTO journey_deliveries (course_user_id, journey_id, local_date,
                        source, status, sent_at, opened_at, attempts)
                    VALUES ($1, $2, {local_date_sql("$4", "$3")}, 'pulled', 'sent', $3, $3, 1)
                    ON CONFLICT (course_user_id, local_date) DO NOTHING
                    RETURNING id
                    """,
                    course_user_id, offer["journey_id"], now, cu["timezone"],
                )
                fresh = delivery_id is not None
        jv = None
        if delivery_id is not None:
            jv = await _open(conn, delivery_id, now, "pulled" if fresh else None)
        return await _situation(conn, cu, jv, fresh, now)


async def _situation(conn: asyncpg.Connection, cu: asyncpg.Record, jv: JourneyView | None,
                     fresh: bool, now: datetime) -> TodayResult:
    """Around the day's journey (if any): what else is open, and what the next step is."""
    others = tuple(o for o in await open_journeys(conn, cu["id"])
                   if jv is None or o.position != jv.position)
    due = cu["next_due_at"]  # locked by `_lock`; taking a journey leaves it alone
    # The pending quiz (see `pending_quiz`) and the next journey's module, in one round trip.
    row = await conn.fetchrow(
        f"""
        SELECT ({_PENDING_QUIZ_SQL}) AS quiz_module, n.module_no, n.unlocked
        FROM (SELECT 1) AS one LEFT JOIN (
            SELECT t.module_no, {unlocked_sql("cu.user_id")} AS unlocked
            FROM course_users cu JOIN journeys j ON j.id = {NEXT_SQL.format(cu="cu",
                                                                          min=MIN_PRIORITY)}
            JOIN topics t ON t.id = j.topic_id WHERE cu.id = $3
        ) AS n ON true
        """,
        cu["user_id"], cu["course_id"], cu["id"],
    )
    quiz_module = row["quiz_module"]
    nxt = row if row["module_no"] is not None else None
    locked_after = missing = None
    if nxt is not None and not nxt["unlocked"]:
        locked_after = nxt["module_no"] - 1
        missing = tuple(o for o in await open_journeys(conn, cu["id"], locked_after)
                        if jv is None or o.position != jv.position)
    finished = (jv is None and nxt is None and not others and quiz_module is None)
    return TodayResult(jv, fresh, finished, locked_after, others, missing or (),
                       quiz_module, due)


async def _open(conn: asyncpg.Connection, delivery_id: uuid.UUID, now: datetime,
                source: str | None) -> JourneyView | None:
    """Open a delivery: mark it opened, take its journey when it is the next one, start the
    clock on the topic. Returns None when the journey can't be opened yet (not taken and not
    the next one to take)."""
    row = await conn.fetchrow(
        "UPDATE journey_deliveries SET opened_at = coalesce(opened_at, $2) WHERE id = $1 "
        "RETURNING opened_at = $2 AS first, taken_at IS NOT NULL AS taken",
        delivery_id, now,
    )
    first = row["first"] if row is not None else None
    if row is None or not row["taken"]:
        # A delivery that took its journey already can't take it again (the journey is no
        # longer the next one): only the others need the compare-and-set.
        await take(conn, delivery_id, now)
    jv = await view(conn, delivery_id)
    if jv is None:
        return None
    if not jv.taken:
        return jv
    await _touch_progress(conn, delivery_id, now)
    if first:
        await log_event(conn, jv, "journey.opened", now, {"source": source or jv.source})
    return jv
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


async def _lock_owner(conn: asyncpg.Connection, delivery_id: uuid.UUID, user_id: uuid.UUID
                      ) -> asyncpg.Record | None:
    """The course-user row behind a delivery, locked — only if `user_id` owns the delivery."""
    cu_id = await conn.fetchval(
        "SELECT d.course_user_id FROM journey_deliveries d JOIN course_users cu "
        "ON cu.id = d.course_user_id WHERE d.id = $1 AND cu.user_id = $2",
        delivery_id, user_id,
    )
    return await _lock(conn, cu_id) if cu_id is not None else None


async def open_delivery(
    conn: asyncpg.Connection, delivery_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> TodayResult | None:
    """The learner pressed Start on a card (or a catch-up button). Only the owner may open it.
    `view.taken` is False when the journey can't be opened yet (another was taken today)."""
    async with conn.transaction():
        cu = await _lock_owner(conn, delivery_id, user_id)
        if cu is None:
            return None
        jv = await _open(conn, delivery_id, now, None)
        if jv is None:
            return None
        return await _situation(conn, cu, jv, False, now)


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
    course-user row is locked first, so Done and a concurrent take or claim serialize."""
    async with conn.transaction():
        cu = await _lock_owner(conn, delivery_id, user_id)
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
            "SELECT next_due_at FROM course_users WHERE id = $1", jv.course_user_id
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


async def log_event(
    conn: asyncpg.Connection, jv: JourneyView, kind: str, now: datetime, payload: dict
) -> None:
    await activity.log(conn, user_id=jv.user_id, course_id=jv.course_id, topic_id=jv.topic_id,
                       event_type=kind, payload=payload, at=now)
