"""The daily delivery queue: claim due course-users (one statement, `FOR UPDATE SKIP LOCKED`),
reclaim a dead worker's claims after the visibility timeout, and record how each send ended.

A claim never advances a learner: the card offers what the day offers (`journeys.offer_sql`),
so a card that was never opened, or never sent, offers the same journey again the next day.
Unopened cards in a row space the next ones out (every 2 days, then weekly); after four weeks
of silence one farewell card says how to come back and scheduling stops (`lapsed_at`) until
the learner writes again."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import asyncpg

from storage.journeys import local_date_sql, offer_sql
from storage.pg import require_tx
from storage.users import next_due_sql

BACKOFF_EVERY_OTHER_DAY = 3  # unopened cards in a row (this one included): next in 2 days
BACKOFF_WEEKLY = 5  # ... and: next in a week
LAPSE_DAYS = 28  # silence (no opening, no message) before the farewell

# Quiet hours: no nudge 22:00-07:00 local, unless the learner chose such a delivery hour.
QUIET_SQL = """
    ((extract(hour FROM ({now}::timestamptz AT TIME ZONE {tz})) >= 22
      OR extract(hour FROM ({now}::timestamptz AT TIME ZONE {tz})) < 7)
     AND NOT ({hour} >= 22 OR {hour} < 7))
"""


def quiet_sql(tz: str, hour: str, now: str) -> str:
    return QUIET_SQL.format(tz=tz, hour=hour, now=now)


def next_due_after_days_sql(tz: str, hour: str, now: str, extra_days: str) -> str:
    """The learner's `hour:00` on the local date `extra_days` after the next delivery date
    (DST-safe: the date arithmetic is local, the instant comes from the tz database)."""
    return f"""
        (((({next_due_sql(tz, hour, now)} AT TIME ZONE {tz})::date + {extra_days})
          + make_time({hour}, 0, 0)) AT TIME ZONE {tz})
    """


# `$5` (advance_on_send) exists only so tests can prove the invariant checker catches a broken
# rule; the bot always passes false.
_CLAIM_SQL = f"""
WITH due AS (
    -- the queue's rows are locked as they are read, before any join: the rows another
    -- claimer holds (a whole batch each) are stepped over in the index, not looked up; the
    -- lateral join keeps the queue's order (a nested loop, the only plan it has)
    SELECT c.*, s.row_at
    FROM (SELECT s.course_user_id, s.ctid AS row_at
          FROM course_user_schedule s
          WHERE s.next_due_at <= $1 AND NOT s.paused
          ORDER BY s.next_due_at
          FOR UPDATE SKIP LOCKED) s
    CROSS JOIN LATERAL (
        SELECT cu.id, cu.ctid AS cu_at, cu.user_id, cu.course_id, cu.last_priority,
               cu.last_taken_on, cu.created_at, u.timezone, u.delivery_hour, u.last_active_at
        FROM course_users cu JOIN users u ON u.id = cu.user_id
        WHERE cu.id = s.course_user_id
          -- what the schedule's triggers guarantee, checked again on the row at hand
          AND cu.completed_at IS NULL AND cu.lapsed_at IS NULL AND cu.paused_at IS NULL
          AND cu.left_at IS NULL
          AND u.is_reachable AND NOT u.paused AND u.telegram_id IS NOT NULL
        -- the course-user too: a learner in the middle of /today or Done is skipped
        FOR UPDATE OF cu SKIP LOCKED
    ) c
    LIMIT $2
), st AS (
    SELECT d.*, o.journey_id, o.priority, o.is_new, e.engaged, x.unopened,
           {quiet_sql("d.timezone", "d.delivery_hour", "$1")} AS quiet
    FROM due d
    LEFT JOIN LATERAL {offer_sql("d", "d.timezone", "$1")} o ON true
    -- one pass over the learner's past deliveries gives both the last engagement and the
    -- send times of the unopened cards (then counted after it)
    CROSS JOIN LATERAL (
        SELECT greatest(d.last_active_at, d.created_at, max(jd.opened_at)) AS engaged,
               array_agg(jd.sent_at) FILTER (WHERE jd.kind = 'card' AND jd.status = 'sent'
                                             AND jd.opened_at IS NULL) AS unopened_sent
        FROM journey_deliveries jd WHERE jd.course_user_id = d.id
    ) e
    CROSS JOIN LATERAL (
        SELECT count(*) AS unopened FROM unnest(e.unopened_sent) AS s(sent_at)
        WHERE s.sent_at > e.engaged
    ) x
), plan AS (
    SELECT st.*, CASE
        WHEN st.quiet OR st.journey_id IS NULL THEN NULL
        WHEN st.unopened >= 1 AND st.engaged <= $1 - make_interval(days => {LAPSE_DAYS})
            THEN 'farewell'
        ELSE 'card' END AS kind
    FROM st
), ins AS (
    INSERT INTO journey_deliveries (course_user_id, journey_id, local_date, source, status,
                                    kind, claimed_by, claimed_at, visible_at, attempts)
    SELECT p.id, p.journey_id, {local_date_sql("p.timezone", "$1")}, 'scheduled', 'claimed',
           p.kind::delivery_kind, $3, $1, $1 + make_interval(secs => $4), 1
    FROM plan p WHERE p.kind IS NOT NULL
    ON CONFLICT (course_user_id, local_date) DO NOTHING
    RETURNING id, course_user_id, kind
), res AS (
    SELECT p.row_at, p.cu_at, p.timezone, p.delivery_hour, p.unopened, p.is_new, p.priority,
           ins.kind AS ins_kind, ins.id IS NOT NULL AS inserted
    FROM plan p LEFT JOIN ins ON ins.course_user_id = p.id
), upd AS (
    -- the claim's one write to every claimed learner: a narrow row, two small indexes
    UPDATE course_user_schedule s SET next_due_at = CASE
            WHEN res.inserted AND res.unopened + 1 >= {BACKOFF_WEEKLY}
                THEN {next_due_after_days_sql("res.timezone", "res.delivery_hour", "$1", "6")}
            WHEN res.inserted AND res.unopened + 1 >= {BACKOFF_EVERY_OTHER_DAY}
                THEN {next_due_after_days_sql("res.timezone", "res.delivery_hour", "$1", "1")}
            ELSE {next_due_sql("res.timezone", "res.delivery_hour", "$1")} END
    FROM res
    -- by the row's address (a TID scan): `due` holds the row's lock, so it can't have moved.
    -- The list of addresses, not only the join, so that the planner never scans the whole
    -- (narrow, cheap-looking) table to hash-join a thousand rows.
    WHERE s.ctid = ANY (ARRAY(SELECT row_at FROM res)) AND s.ctid = res.row_at
      AND res.ins_kind IS DISTINCT FROM 'farewell'
), lapse AS (
    -- the farewell ends the schedule (the trigger on lapsed_at deletes the row)
    UPDATE course_users cu SET
        lapsed_at = CASE WHEN res.ins_kind = 'farewell' THEN $1 ELSE cu.lapsed_at END,
        last_priority = CASE WHEN $5 AND res.inserted AND res.is_new THEN res.priority
                             ELSE cu.last_priority END
    FROM res
    WHERE cu.ctid = res.cu_at
      AND (res.ins_kind = 'farewell' OR ($5 AND res.inserted AND res.is_new))
)
SELECT id FROM ins
"""

# A failed quiz whose cooldown has ended: one "you can retake it now" per cooldown, recorded as
# an activity event, never in quiet hours, never to paused, left or lapsed learners.
_NUDGE_SQL = f"""
WITH due AS (
    SELECT mp.user_id, mp.course_id, mp.module_no, mp.cooldown_until
    FROM module_progress mp
    JOIN users u ON u.id = mp.user_id
    JOIN course_users cu ON cu.user_id = mp.user_id AND cu.course_id = mp.course_id
    WHERE mp.cooldown_until <= $1 AND NOT mp.quiz_passed
      AND (mp.retake_nudged_at IS NULL OR mp.retake_nudged_at < mp.cooldown_until)
      AND (mp.retake_nudge_retry_at IS NULL OR mp.retake_nudge_retry_at <= $1)
      AND cu.lapsed_at IS NULL AND cu.paused_at IS NULL AND cu.left_at IS NULL
      AND u.is_reachable AND NOT u.paused AND u.telegram_id IS NOT NULL
      AND NOT {quiet_sql("u.timezone", "u.delivery_hour", "$1")}
      AND NOT EXISTS (SELECT 1 FROM quiz_attempts a WHERE a.user_id = mp.user_id
                      AND a.course_id = mp.course_id AND a.module_no = mp.module_no
                      AND a.started_at >= mp.cooldown_until)
    ORDER BY mp.cooldown_until
    LIMIT $2
    FOR UPDATE OF mp SKIP LOCKED
), upd AS (
    UPDATE module_progress mp SET retake_nudged_at = $1
    FROM due WHERE mp.user_id = due.user_id AND mp.course_id = due.course_id
      AND mp.module_no = due.module_no
    RETURNING mp.user_id, mp.course_id, mp.module_no
), ev AS (
    INSERT INTO learner_activity_events (user_id, course_id, event_type, payload, created_at)
    SELECT user_id, course_id, 'quiz.retake_nudge', jsonb_build_object('module', module_no), $1
    FROM upd
)
SELECT upd.user_id, u.telegram_id, upd.course_id, c.slug AS course_slug,
       course_title(c.id, u.locale) AS course_title,
       upd.module_no, $1::timestamptz AS claimed_at, u.locale
FROM upd JOIN users u ON u.id = upd.user_id JOIN courses c ON c.id = upd.course_id
"""

# A nudge whose send failed for now (network, 5xx): give the claim back, to be tried again
# after a back-off, unless this cooldown's nudge already failed `$6` times. Only the claim
# that was made at `$4` is given back (a later one is someone else's).
_NUDGE_FAILED_SQL = """
WITH failed AS (
    INSERT INTO learner_activity_events (user_id, course_id, event_type, payload, created_at)
    VALUES ($1, $2, 'quiz.retake_nudge_failed', jsonb_build_object('module', $3::int), $5)
), tries AS (
    SELECT count(*) + 1 AS n FROM learner_activity_events e JOIN module_progress mp
      ON mp.user_id = e.user_id AND mp.course_id = e.course_id
    WHERE e.user_id = $1 AND e.course_id = $2 AND mp.module_no = $3
      AND e.event_type = 'quiz.retake_nudge_failed' AND (e.payload ->> 'module')::int = $3
      AND e.created_at >= mp.cooldown_until
)
UPDATE module_progress mp
SET retake_nudged_at = NULL, retake_nudge_retry_at =
    $5 + least($7::interval * 2 ^ ((SELECT n FROM tries) - 1), interval '1 hour')
WHERE mp.user_id = $1 AND mp.course_id = $2 AND mp.module_no = $3 AND mp.retake_nudged_at = $4
  AND (SELECT n FROM tries) < $6
RETURNING mp.retake_nudge_retry_at
"""

_RECLAIM_SQL = """
UPDATE journey_deliveries d
SET claimed_by = $3, visible_at = $1 + make_interval(secs => $4), attempts = d.attempts + 1,
    claim_token = gen_random_uuid()
WHERE d.id IN (
    SELECT id FROM journey_deliveries
    WHERE status = 'claimed' AND visible_at <= $1
    ORDER BY visible_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
RETURNING d.id, d.attempts, d.claim_token
"""


async def claim_due(
    conn: asyncpg.Connection, *, now: datetime, limit: int, worker: str,
    visibility_seconds: float, advance_on_send: bool = False,
) -> list[uuid.UUID]:
    """Claim up to `limit` due course-users in one statement; return the new deliveries."""
    rows = await conn.fetch(_CLAIM_SQL, now, limit, worker, float(visibility_seconds),
                            advance_on_send)
    return [r["id"] for r in rows]


async def claim_retake_nudges(conn: asyncpg.Connection, *, now: datetime, limit: int
                              ) -> list[asyncpg.Record]:
    """Quiz cooldowns that ended: (user_id, telegram_id, course_slug, module_no, locale) to
    nudge."""
    return await conn.fetch(_NUDGE_SQL, now, limit)


async def retake_nudge_failed(
    conn: asyncpg.Connection, *, user_id: uuid.UUID, course_id: uuid.UUID, module_no: int,
    claimed_at: datetime, now: datetime, max_attempts: int, first_wait: timedelta,
) -> datetime | None:
    """Record a nudge that could not be sent for now; returns when it will be tried again, or
    None when this cooldown's nudge has failed `max_attempts` times (given up: the quiz is
    still offered by /today, /progress and /quiz)."""
    return await conn.fetchval(_NUDGE_FAILED_SQL, user_id, course_id, module_no, claimed_at, now,
                               max_attempts, first_wait)


async def reclaim_expired(
    conn: asyncpg.Connection, *, now: datetime, limit: int, worker: str,
    visibility_seconds: float, max_attempts: int,
) -> list[uuid.UUID]:
    """Take back deliveries whose worker died or whose retry time came; give up after a limit.
    Call inside a transaction: its statements commit or fail together."""
    require_tx(conn)
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


async def claim_tokens(
    conn: asyncpg.Connection, ids: list[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """The claim token of each claimed delivery (a fresh claim's comes from the column default,
    a reclaim's from `_RECLAIM_SQL`): what mark_* and the heartbeat must present."""
    rows = await conn.fetch(
        "SELECT id, claim_token FROM journey_deliveries WHERE id = ANY($1::uuid[])"
        " AND status = 'claimed'", ids)
    return {r["id"]: r["claim_token"] for r in rows}


async def heartbeat(
    conn: asyncpg.Connection, claims: dict[uuid.UUID, uuid.UUID], *, now: datetime,
    visibility_seconds: float,
) -> set[uuid.UUID]:
    """Keep claims invisible to other workers while their holder still works on them;
    returns the ids still held (a claim retaken or finished meanwhile is not extended)."""
    if not claims:
        return set()
    rows = await conn.fetch(
        """
        UPDATE journey_deliveries d SET visible_at = $3::timestamptz + make_interval(secs => $4)
        FROM unnest($1::uuid[], $2::uuid[]) AS c(id, token)
        WHERE d.id = c.id AND d.claim_token = c.token AND d.status = 'claimed'
        RETURNING d.id
        """,
        list(claims), list(claims.values()), now, float(visibility_seconds),
    )
    return {r["id"] for r in rows}


async def mark_sent(
    conn: asyncpg.Connection, delivery_id: uuid.UUID, *, chat_id: int, message_id: int,
    now: datetime, token: uuid.UUID,
) -> bool:
    """Record the send; only the claim's holder (its `token`) can. False: not ours.

    One statement (the update and its activity event): it runs once per card sent, and on a
    busy day every round trip here is a message per second less."""
    return bool(await conn.fetchval(
        """
        WITH s AS (
            UPDATE journey_deliveries SET status = 'sent', sent_at = $2, chat_id = $3,
                message_id = $4, last_error = NULL
            WHERE id = $1 AND status = 'claimed' AND claim_token = $5
            RETURNING id, course_user_id, journey_id, local_date, kind
        ), ev AS (
            INSERT INTO learner_activity_events (user_id, course_id, topic_id, event_type,
                                                 payload, created_at)
            SELECT cu.user_id, cu.course_id, j.topic_id,
                   CASE WHEN s.kind = 'farewell' THEN 'journey.farewell'
                        ELSE 'journey.sent' END,
                   jsonb_build_object('waiting', EXISTS (
                       SELECT 1 FROM journey_deliveries d2
                       WHERE d2.course_user_id = s.course_user_id
                         AND d2.journey_id = s.journey_id AND d2.local_date < s.local_date)),
                   $2
            FROM s JOIN course_users cu ON cu.id = s.course_user_id
            JOIN journeys j ON j.id = s.journey_id
        )
        SELECT count(*) > 0 FROM s
        """,
        delivery_id, now, chat_id, message_id, token,
    ))


async def mark_retry(
    conn: asyncpg.Connection, delivery_id: uuid.UUID, *, error: str, retry_at: datetime,
    token: uuid.UUID,
) -> None:
    await conn.execute(
        """
        UPDATE journey_deliveries SET visible_at = $2, last_error = $3
        WHERE id = $1 AND status = 'claimed' AND claim_token = $4
        """,
        delivery_id, retry_at, error[:500], token,
    )


async def mark_failed(
    conn: asyncpg.Connection, delivery_id: uuid.UUID, *, error: str, unreachable: bool,
    token: uuid.UUID,
) -> None:
    """The delivery failed for good (only its claim's holder may say so); `unreachable`
    (blocked, deactivated) marks its user too. One statement, so atomic by itself."""
    await conn.execute(
        """
        WITH failed AS (
            UPDATE journey_deliveries d SET status = 'failed', last_error = $2
            FROM course_users cu
            WHERE d.id = $1 AND cu.id = d.course_user_id AND d.status = 'claimed'
              AND d.claim_token = $3
            RETURNING cu.user_id
        )
        UPDATE users u SET is_reachable = false, unreachable_at = now()
        FROM failed WHERE u.id = failed.user_id AND $4
        """,
        delivery_id, error[:500], token, unreachable,
    )


