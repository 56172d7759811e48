"""The daily delivery queue: claim due course-users (one statement, `FOR UPDATE SKIP LOCKED`),
reclaim a dead worker's claims after the visibility timeout, and record how each send ended."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from storage.completion import unlocked_sql
from storage.journeys import MIN_PRIORITY, log_event, view
from storage.users import next_due_sql

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
    """Record the send; only the claim's holder (its `token`) can. False: not ours."""
    jv_row = await conn.fetchrow(
        """
        UPDATE journey_deliveries SET status = 'sent', sent_at = $2, chat_id = $3,
            message_id = $4, last_error = NULL
        WHERE id = $1 AND status = 'claimed' AND claim_token = $5
        RETURNING id
        """,
        delivery_id, now, chat_id, message_id, token,
    )
    if jv_row:
        jv = await view(conn, delivery_id)
        if jv:
            await log_event(conn, jv, "journey.sent", now, {})
    return jv_row is not None


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
    async with conn.transaction():
        user_id = await conn.fetchval(
            """
            UPDATE journey_deliveries d SET status = 'failed', last_error = $2
            FROM course_users cu
            WHERE d.id = $1 AND cu.id = d.course_user_id AND d.status = 'claimed'
              AND d.claim_token = $3
            RETURNING cu.user_id
            """,
            delivery_id, error[:500], token,
        )
        if unreachable and user_id:
            await conn.execute(
                "UPDATE users SET is_reachable = false, unreachable_at = now() WHERE id = $1",
                user_id,
            )


