"""Admin broadcasts: recipients materialized once, each sent at most once, resumable.

Lifecycle of a broadcast: draft → (confirmed) sending → done | cancelled. While sending, one
process owns it under a lease it renews; if that process dies, another takes the broadcast over
when the lease expires and carries on from the rows still pending.

Lifecycle of a recipient: pending → sending → sent | failed, or back to pending for a retry.
'sending' is committed just before the Bot API call. A row found 'sending' at takeover was in
flight when its owner died — Telegram may or may not have it — so it becomes 'unconfirmed' and
is never sent again: a broadcast never reaches anyone twice."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from storage.pg import require_tx

_TARGETS = {
    "course": """
        SELECT u.id AS user_id, u.telegram_id AS chat_id
        FROM enrollments e JOIN users u ON u.id = e.user_id
        WHERE e.course_id = $1 AND u.telegram_id IS NOT NULL AND u.is_reachable
    """,
    "cohort": """
        SELECT u.id AS user_id, u.telegram_id AS chat_id
        FROM cohort_members m JOIN users u ON u.id = m.user_id
        WHERE m.cohort_id = $1 AND m.status = 'active' AND u.telegram_id IS NOT NULL
          AND u.is_reachable
    """,
}


@dataclass(frozen=True)
class Broadcast:
    id: uuid.UUID
    created_by: uuid.UUID | None
    target_kind: str
    target_id: uuid.UUID
    target_label: str
    body: str
    status: str
    progress_chat_id: int | None
    progress_message_id: int | None
    owner: str | None
    started_at: datetime | None
    finished_at: datetime | None


_COLUMNS = ", ".join(Broadcast.__dataclass_fields__)


async def audience_size(conn: asyncpg.Connection, target_kind: str, target_id: uuid.UUID) -> int:
    return await conn.fetchval(f"SELECT count(*) FROM ({_TARGETS[target_kind]}) r", target_id)


async def create_draft(
    conn: asyncpg.Connection, *, created_by: uuid.UUID, target_kind: str, target_id: uuid.UUID,
    target_label: str, body: str,
) -> Broadcast:
    row = await conn.fetchrow(
        f"""
        INSERT INTO broadcasts (created_by, target_kind, target_id, target_label, body)
        VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}
        """,
        created_by, target_kind, target_id, target_label, body,
    )
    return Broadcast(**dict(row))


async def get(conn: asyncpg.Connection, broadcast_id: uuid.UUID) -> Broadcast | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM broadcasts WHERE id = $1", broadcast_id)
    return Broadcast(**dict(row)) if row else None


async def reporter_locale(conn: asyncpg.Connection, broadcast_id: uuid.UUID) -> str:
    """The language of the admin who confirmed the broadcast: its progress report speaks it."""
    return await conn.fetchval(
        "SELECT coalesce(u.locale, 'en') FROM broadcasts b LEFT JOIN users u "
        "ON u.id = b.created_by WHERE b.id = $1", broadcast_id) or "en"


async def start(
    conn: asyncpg.Connection, broadcast_id: uuid.UUID, *, owner: str, lease_seconds: float,
    progress_chat_id: int, progress_message_id: int,
) -> int | None:
    """Confirm a draft: materialize its recipients and take the lease, atomically. Returns the
    number of recipients, or None when it is not a draft any more (a second press).
    Call inside a transaction: its statements commit or fail together."""
    require_tx(conn)
    row = await conn.fetchrow(
        """
        UPDATE broadcasts SET status = 'sending', started_at = now(), owner = $2,
            lease_until = now() + make_interval(secs => $3),
            progress_chat_id = $4, progress_message_id = $5
        WHERE id = $1 AND status = 'draft'
        RETURNING target_kind, target_id
        """,
        broadcast_id, owner, float(lease_seconds), progress_chat_id, progress_message_id,
    )
    if row is None:
        return None
    result = await conn.execute(
        f"""
        INSERT INTO broadcast_recipients (broadcast_id, user_id, chat_id)
        SELECT $2, r.user_id, r.chat_id FROM ({_TARGETS[row["target_kind"]]}) r
        ON CONFLICT DO NOTHING
        """,
        row["target_id"], broadcast_id,
    )
    return int(result.split()[-1])


async def cancel(conn: asyncpg.Connection, broadcast_id: uuid.UUID) -> str | None:
    """Cancel a draft or stop a broadcast being sent; returns the status it had."""
    return await conn.fetchval(
        """
        UPDATE broadcasts b SET status = 'cancelled', finished_at = now(), lease_until = NULL
        FROM (SELECT id, status FROM broadcasts WHERE id = $1 FOR UPDATE) old
        WHERE b.id = old.id AND old.status IN ('draft', 'sending')
        RETURNING old.status
        """,
        broadcast_id,
    )


async def renew(
    conn: asyncpg.Connection, broadcast_id: uuid.UUID, owner: str, lease_seconds: float
) -> bool:
    """Extend the lease; False when the broadcast is no longer ours to send."""
    return bool(await conn.fetchval(
        """
        UPDATE broadcasts SET lease_until = now() + make_interval(secs => $3)
        WHERE id = $1 AND owner = $2 AND status = 'sending'
        RETURNING true
        """,
        broadcast_id, owner, float(lease_seconds),
    ))


async def release(conn: asyncpg.Connection, broadcast_id: uuid.UUID, owner: str) -> None:
    """A clean shutdown hands the broadcast to the next process at once."""
    await conn.execute(
        "UPDATE broadcasts SET lease_until = now() WHERE id = $1 AND owner = $2",
        broadcast_id, owner,
    )


async def take_over(
    conn: asyncpg.Connection, owner: str, lease_seconds: float, limit: int = 5
) -> list[uuid.UUID]:
    """Adopt broadcasts whose owner's lease ran out. Rows that owner had in flight become
    'unconfirmed' (never re-sent); rows it had only claimed are free again.
    Call inside a transaction: its statements commit or fail together."""
    require_tx(conn)
    ids = [r["id"] for r in await conn.fetch(
        """
        UPDATE broadcasts b SET owner = $1, lease_until = now() + make_interval(secs => $2)
        WHERE b.id IN (
            SELECT id FROM broadcasts
            WHERE status = 'sending' AND (lease_until IS NULL OR lease_until < now())
            ORDER BY started_at LIMIT $3
            FOR UPDATE SKIP LOCKED)
        RETURNING b.id
        """,
        owner, float(lease_seconds), limit,
    )]
    if ids:
        await conn.execute(
            """
            UPDATE broadcast_recipients SET status = 'unconfirmed',
                last_error = 'in flight when its sender stopped; not re-sent'
            WHERE broadcast_id = ANY($1::uuid[]) AND status = 'sending'
            """,
            ids,
        )
        await conn.execute(
            """
            UPDATE broadcast_recipients SET claimed_by = NULL,
                visible_at = least(visible_at, now())
            WHERE broadcast_id = ANY($1::uuid[]) AND status = 'pending'
              AND claimed_by IS DISTINCT FROM $2
            """,
            ids, owner,
        )
    return ids


@dataclass(frozen=True)
class Recipient:
    user_id: uuid.UUID
    chat_id: int
    attempts: int


async def claim(
    conn: asyncpg.Connection, broadcast_id: uuid.UUID, owner: str, *, limit: int,
    hold_seconds: float,
) -> list[Recipient]:
    """Claim due pending recipients in one statement (FOR UPDATE SKIP LOCKED); only the
    broadcast's lease owner gets any."""
    rows = await conn.fetch(
        """
        UPDATE broadcast_recipients r SET claimed_by = $2,
            visible_at = now() + make_interval(secs => $4)
        WHERE (r.broadcast_id, r.user_id) IN (
            SELECT broadcast_id, user_id FROM broadcast_recipients
            WHERE broadcast_id = $1 AND status = 'pending' AND visible_at <= now()
              AND EXISTS (SELECT 1 FROM broadcasts b
                          WHERE b.id = $1 AND b.owner = $2 AND b.status = 'sending')
            ORDER BY visible_at, chat_id
            LIMIT $3
            FOR UPDATE SKIP LOCKED)
        RETURNING r.user_id, r.chat_id, r.attempts
        """,
        broadcast_id, owner, limit, float(hold_seconds),
    )
    return sorted((Recipient(**dict(r)) for r in rows), key=lambda r: r.chat_id)


async def mark_sending(
    conn: asyncpg.Connection, broadcast_id: uuid.UUID, user_id: uuid.UUID, owner: str
) -> bool:
    """The last word before the Bot API call: only the lease owner of a broadcast still being
    sent may move its own claimed row to 'sending' (again, when a 429 made it wait)."""
    return bool(await conn.fetchval(
        """
        UPDATE broadcast_recipients r SET status = 'sending', attempts = r.attempts + 1
        FROM broadcasts b
        WHERE r.broadcast_id = $1 AND r.user_id = $2 AND r.claimed_by = $3
          AND r.status IN ('pending', 'sending')
          AND b.id = r.broadcast_id AND b.owner = $3 AND b.status = 'sending'
        RETURNING true
        """,
        broadcast_id, user_id, owner,
    ))


async def mark_not_sent(
    conn: asyncpg.Connection, broadcast_id: uuid.UUID, user_id: uuid.UUID, owner: str
) -> None:
    """The row went 'sending' but no request left (a 429 refused it, or the process stopped
    before the call): pending again, still claimed by `owner`. 'sending' — and so
    'unconfirmed' after a takeover — only ever covers requests actually issued."""
    # Kept out of the owner's own next claim (its send is still waiting to retry); a
    # takeover frees it at once (`take_over` resets visible_at of rows others had claimed).
    await conn.execute(
        """
        UPDATE broadcast_recipients SET status = 'pending',
            visible_at = greatest(visible_at, now() + interval '1 hour')
        WHERE broadcast_id = $1 AND user_id = $2 AND claimed_by = $3 AND status = 'sending'
        """,
        broadcast_id, user_id, owner,
    )


async def mark_sent(
    conn: asyncpg.Connection, broadcast_id: uuid.UUID, user_id: uuid.UUID, message_id: int
) -> None:
    await conn.execute(
        """
        UPDATE broadcast_recipients SET status = 'sent', sent_at = now(), message_id = $3,
            last_error = NULL
        WHERE broadcast_id = $1 AND user_id = $2 AND status = 'sending'
        """,
        broadcast_id, user_id, message_id,
    )


async def mark_failed(
    conn: asyncpg.Connection, broadcast_id: uuid.UUID, user_id: uuid.UUID, *, error: str,
    unreachable: bool,
) -> None:
    """The recipient failed for good; `unreachable` (blocked, deactivated) marks the user too.
    One statement, so atomic by itself: callers need no transaction for it."""
    # A data-modifying WITH runs to completion whether or not the outer query reads it.
    await conn.execute(
        """
        WITH failed AS (
            UPDATE broadcast_recipients SET status = 'failed', last_error = $3
            WHERE broadcast_id = $1 AND user_id = $2 AND status IN ('pending', 'sending')
        )
        UPDATE users SET is_reachable = false, unreachable_at = now() WHERE id = $2 AND $4
        """,
        broadcast_id, user_id, error[:500], unreachable,
    )


async def mark_retry(
    conn: asyncpg.Connection, broadcast_id: uuid.UUID, user_id: uuid.UUID, *, error: str,
    delay_seconds: float, max_attempts: int,
) -> bool:
    """The call failed before Telegram took the message: send again later, or give up after
    `max_attempts`. Returns False when it gave up."""
    status = await conn.fetchval(
        """
        UPDATE broadcast_recipients SET last_error = $3,
            status = CASE WHEN attempts >= $5 THEN 'failed' ELSE 'pending' END::send_status,
            visible_at = now() + make_interval(secs => $4)
        WHERE broadcast_id = $1 AND user_id = $2 AND status IN ('sending', 'pending')
        RETURNING status::text
        """,
        broadcast_id, user_id, error[:500], float(delay_seconds), max_attempts,
    )
    return status == "pending"


@dataclass(frozen=True)
class Counts:
    total: int
    sent: int
    failed: int
    unconfirmed: int
    pending: int  # pending + sending: not finished yet

    @property
    def left(self) -> int:
        return self.pending


async def counts(conn: asyncpg.Connection, broadcast_id: uuid.UUID) -> Counts:
    rows = await conn.fetch(
        "SELECT status::text, count(*) AS n FROM broadcast_recipients WHERE broadcast_id = $1 "
        "GROUP BY status",
        broadcast_id,
    )
    by = {r["status"]: r["n"] for r in rows}
    return Counts(
        total=sum(by.values()), sent=by.get("sent", 0), failed=by.get("failed", 0),
        unconfirmed=by.get("unconfirmed", 0),
        pending=by.get("pending", 0) + by.get("sending", 0),
    )


async def seconds_until_due(conn: asyncpg.Connection, broadcast_id: uuid.UUID) -> float | None:
    """How long until the next pending recipient may be sent (None: nothing pending)."""
    value = await conn.fetchval(
        """
        SELECT CASE WHEN count(*) > 0
                    THEN greatest(0, extract(epoch FROM min(visible_at) - now())) END
        FROM broadcast_recipients WHERE broadcast_id = $1 AND status = 'pending'
        """,
        broadcast_id,
    )
    return float(value) if value is not None else None


async def finish(conn: asyncpg.Connection, broadcast_id: uuid.UUID, owner: str) -> bool:
    return bool(await conn.fetchval(
        """
        UPDATE broadcasts SET status = 'done', finished_at = now(), lease_until = NULL
        WHERE id = $1 AND owner = $2 AND status = 'sending'
          AND NOT EXISTS (SELECT 1 FROM broadcast_recipients
                          WHERE broadcast_id = $1 AND status IN ('pending', 'sending'))
        RETURNING true
        """,
        broadcast_id, owner,
    ))


async def mark_unconfirmed(
    conn: asyncpg.Connection, broadcast_id: uuid.UUID, user_id: uuid.UUID, *, error: str
) -> None:
    """The call failed in a way that leaves open whether Telegram took the message (a timeout):
    sending again could deliver it twice, so it is not retried."""
    await conn.execute(
        """
        UPDATE broadcast_recipients SET status = 'unconfirmed', last_error = $3
        WHERE broadcast_id = $1 AND user_id = $2 AND status = 'sending'
        """,
        broadcast_id, user_id, error[:500],
    )
