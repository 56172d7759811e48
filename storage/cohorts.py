"""Cohorts (seed 001): a course's live group, its members by email, batch projects.

A member row exists from the moment a tutor adds the email; `user_id` is bound when the learner
opens their personal invite link and goes NULL if that user is deleted. `is_active` gates every
cohort action (cold calls, replies, member changes, broadcasts)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from storage.pg import require_tx
from storage.reads import Reader

MEMBER_STATUSES = ("active", "invited", "paused", "removed")


@dataclass(frozen=True)
class Cohort:
    id: uuid.UUID
    course_id: uuid.UUID
    course_slug: str
    course_title: str
    name: str
    telegram_chat_id: int | None
    telegram_thread_id: int | None
    invite_code: str
    is_active: bool


_SELECT = """
    SELECT co.id, co.course_id, c.slug AS course_slug, c.title AS course_title, co.name,
           co.telegram_chat_id, co.telegram_thread_id, co.invite_code, co.is_active
    FROM cohorts co JOIN courses c ON c.id = co.course_id
"""


def _cohort(row: asyncpg.Record | None) -> Cohort | None:
    return Cohort(**dict(row)) if row else None


async def create(conn: asyncpg.Connection, course_id: uuid.UUID, name: str) -> Cohort | None:
    """None when the name is taken (names are unique across courses)."""
    cohort_id = await conn.fetchval(
        "INSERT INTO cohorts (course_id, name) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING "
        "RETURNING id",
        course_id, name,
    )
    return await get(conn, cohort_id) if cohort_id else None


async def get(conn: asyncpg.Connection, cohort_id: uuid.UUID) -> Cohort | None:
    return _cohort(await conn.fetchrow(_SELECT + " WHERE co.id = $1", cohort_id))


async def get_by_name(conn: asyncpg.Connection, name: str) -> Cohort | None:
    """Exact name first; otherwise a case-insensitive match if it is unambiguous."""
    row = await conn.fetchrow(_SELECT + " WHERE co.name = $1", name)
    if row is None:
        rows = await conn.fetch(_SELECT + " WHERE lower(co.name) = lower($1) LIMIT 2", name)
        row = rows[0] if len(rows) == 1 else None
    return _cohort(row)


async def get_by_chat(conn: asyncpg.Connection, chat_id: int) -> Cohort | None:
    return _cohort(await conn.fetchrow(_SELECT + " WHERE co.telegram_chat_id = $1", chat_id))


async def link_chat(
    conn: asyncpg.Connection, cohort_id: uuid.UUID, chat_id: int, thread_id: int | None
) -> str | None:
    """Link the group (and forum thread) to the cohort. A group hosts one cohort, so a cohort
    previously linked to it is unlinked; its name is returned.
    Call inside a transaction: its statements commit or fail together."""
    require_tx(conn)
    previous = await conn.fetchval(
        """
        UPDATE cohorts SET telegram_chat_id = NULL, telegram_thread_id = NULL
        WHERE telegram_chat_id = $1 AND id <> $2
        RETURNING name
        """,
        chat_id, cohort_id,
    )
    await conn.execute(
        "UPDATE cohorts SET telegram_chat_id = $2, telegram_thread_id = $3 WHERE id = $1",
        cohort_id, chat_id, thread_id,
    )
    return previous


async def set_active(conn: asyncpg.Connection, cohort_id: uuid.UUID, active: bool) -> bool:
    """True when the flag changed."""
    changed = await conn.fetchval(
        "UPDATE cohorts SET is_active = $2 WHERE id = $1 AND is_active <> $2 RETURNING true",
        cohort_id, active,
    )
    return bool(changed)


@dataclass(frozen=True)
class MemberInput:
    email: str
    batch_no: int = 1
    status: str = "active"


@dataclass(frozen=True)
class MemberRow:
    email: str
    invite_code: str
    batch_no: int
    status: str
    created: bool
    bound: bool


async def add_members(
    conn: asyncpg.Connection, cohort_id: uuid.UUID, members: list[MemberInput]
) -> list[MemberRow]:
    """Upsert by (cohort, email) in one statement: new emails get a personal invite code;
    existing ones keep theirs (and their bound user) and take the new batch and status."""
    if not members:
        return []
    rows = await conn.fetch(
        """
        INSERT INTO cohort_members (cohort_id, email, batch_no, status)
        SELECT $1, m.email, m.batch_no, m.status::member_status
        FROM unnest($2::text[], $3::int[], $4::text[]) AS m(email, batch_no, status)
        ON CONFLICT (cohort_id, email) DO UPDATE SET
            batch_no = EXCLUDED.batch_no, status = EXCLUDED.status
        RETURNING email, invite_code, batch_no, status::text AS status, (xmax = 0) AS created,
                  user_id IS NOT NULL AS bound
        """,
        cohort_id,
        [m.email for m in members],
        [m.batch_no for m in members],
        [m.status for m in members],
    )
    return [MemberRow(**dict(r)) for r in rows]


@dataclass(frozen=True)
class JoinResult:
    outcome: str  # joined | already | taken | removed | inactive | unknown | other_seat
    cohort: Cohort | None = None
    batch_no: int | None = None


async def bind_invite(
    conn: asyncpg.Connection, code: str, user_id: uuid.UUID, now: datetime
) -> JoinResult:
    """Bind the membership behind a personal invite code to the user who opened it.

    The first user to open a link owns the seat; the link then stops working for anyone else
    (a forwarded link can't move the seat).
    Call inside a transaction: its statements commit or fail together."""
    require_tx(conn)
    row = await conn.fetchrow(
        """
        SELECT m.id, m.cohort_id, m.user_id, m.status::text AS status, m.batch_no
        FROM cohort_members m WHERE m.invite_code = $1 FOR UPDATE
        """,
        code,
    )
    if row is None:
        return JoinResult("unknown")
    cohort = await get(conn, row["cohort_id"])
    assert cohort is not None
    if row["user_id"] == user_id:
        return JoinResult("already", cohort, row["batch_no"])
    if row["user_id"] is not None:
        return JoinResult("taken", cohort)
    if row["status"] == "removed":
        return JoinResult("removed", cohort)
    if not cohort.is_active:
        return JoinResult("inactive", cohort)
    other = await conn.fetchval(
        "SELECT true FROM cohort_members WHERE cohort_id = $1 AND user_id = $2",
        row["cohort_id"], user_id,
    )
    if other:
        return JoinResult("other_seat", cohort)
    await conn.execute(
        """
        UPDATE cohort_members SET user_id = $2, joined_at = $3,
            status = CASE WHEN status = 'invited' THEN 'active'::member_status ELSE status END
        WHERE id = $1
        """,
        row["id"], user_id, now,
    )
    return JoinResult("joined", cohort, row["batch_no"])


async def member_status(
    conn: asyncpg.Connection, cohort_id: uuid.UUID, user_id: uuid.UUID
) -> str | None:
    return await conn.fetchval(
        "SELECT status::text FROM cohort_members WHERE cohort_id = $1 AND user_id = $2",
        cohort_id, user_id,
    )


async def set_project(
    conn: asyncpg.Connection, cohort_id: uuid.UUID, batch_no: int, title: str, url: str
) -> bool:
    """Upsert the batch's project; True when it is new."""
    return await conn.fetchval(
        """
        INSERT INTO cohort_batch_projects (cohort_id, batch_no, title, url) VALUES ($1, $2, $3, $4)
        ON CONFLICT (cohort_id, batch_no) DO UPDATE SET title = EXCLUDED.title, url = EXCLUDED.url
        RETURNING (xmax = 0)
        """,
        cohort_id, batch_no, title, url,
    )


@dataclass(frozen=True)
class Project:
    cohort_name: str
    course_title: str
    batch_no: int
    title: str
    url: str


async def projects_for_user(conn: Reader, user_id: uuid.UUID) -> list[Project]:
    rows = await conn.fetch(
        """
        SELECT co.name AS cohort_name,
               course_title(c.id, (SELECT locale FROM users WHERE id = $1)) AS course_title,
               p.batch_no, p.title, p.url
        FROM cohort_members m
        JOIN cohorts co ON co.id = m.cohort_id AND co.is_active
        JOIN courses c ON c.id = co.course_id
        JOIN cohort_batch_projects p ON p.cohort_id = m.cohort_id AND p.batch_no = m.batch_no
        WHERE m.user_id = $1 AND m.status IN ('active', 'paused')
        ORDER BY co.name
        """,
        user_id,
    )
    return [Project(**dict(r)) for r in rows]


@dataclass(frozen=True)
class CohortSummary:
    name: str
    course_slug: str
    is_active: bool
    linked: bool
    members: int
    joined: int


async def summaries(
    conn: asyncpg.Connection, course_ids: list[uuid.UUID] | None = None
) -> list[CohortSummary]:
    """All cohorts (course_ids None) or those of the given courses, with member counts."""
    rows = await conn.fetch(
        """
        SELECT co.name, c.slug AS course_slug, co.is_active,
               co.telegram_chat_id IS NOT NULL AS linked,
               count(m.id) FILTER (WHERE m.status <> 'removed') AS members,
               count(m.user_id) FILTER (WHERE m.status <> 'removed') AS joined
        FROM cohorts co JOIN courses c ON c.id = co.course_id
        LEFT JOIN cohort_members m ON m.cohort_id = co.id
        WHERE $1::uuid[] IS NULL OR co.course_id = ANY($1::uuid[])
        GROUP BY co.id, c.slug ORDER BY c.slug, co.name
        """,
        course_ids,
    )
    return [CohortSummary(**dict(r)) for r in rows]
