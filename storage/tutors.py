"""Roles: admins (users.role) and tutors (tutors + course_tutors, gated per course).

`users.role` says what menu a person sees; what a tutor may *do* is decided by an active
`course_tutors` row for the course in question, never by the role alone."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from storage.pg import require_tx


@dataclass(frozen=True)
class Person:
    id: uuid.UUID
    telegram_id: int | None
    username: str | None
    display_name: str
    role: str

    @property
    def label(self) -> str:
        if self.username:
            return "@" + self.username
        return self.display_name or str(self.telegram_id)


_PERSON = "SELECT id, telegram_id, username, display_name, role::text AS role FROM users"


# A username last seen this long ago may have changed hands since (Telegram usernames are
# reusable), so it no longer identifies anyone for a role grant.
USERNAME_FRESH_FOR = timedelta(days=30)


class UnclearHandle(Exception):
    """An @username that doesn't pick out one person now: `kind` is 'ambiguous' (several
    people were seen with it) or 'stale' (its owner wasn't seen recently)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


async def find_person(conn: asyncpg.Connection, handle: str) -> Person | None:
    """`@username` (case-insensitive) or a numeric Telegram id; raises `UnclearHandle` for a
    username that is ambiguous or stale.

    A numeric id nobody has seen yet gets a users row, so an admin can appoint a tutor before
    that tutor first writes to the bot; a username can only be resolved once its owner did."""
    handle = handle.strip()
    if handle.lstrip("-").isdigit():
        telegram_id = int(handle)
        if telegram_id <= 0:
            return None
        await conn.execute(
            "INSERT INTO users (telegram_id) VALUES ($1) ON CONFLICT (telegram_id) DO NOTHING",
            telegram_id,
        )
        row = await conn.fetchrow(f"{_PERSON} WHERE telegram_id = $1", telegram_id)
        return Person(**dict(row)) if row else None
    name = handle.removeprefix("@")
    if not name:
        return None
    rows = await conn.fetch(
        # last_seen_at is wall-clock (users.arrive writes the database's now()): compare alike
        f"SELECT p.*, coalesce(now() - u.last_seen_at > $2, true) AS stale "
        f"FROM ({_PERSON}) p JOIN users u USING (id) "
        "WHERE lower(p.username) = lower($1) ORDER BY u.last_seen_at DESC NULLS LAST LIMIT 2",
        name, USERNAME_FRESH_FOR,
    )
    if not rows:
        return None
    if len(rows) > 1:
        raise UnclearHandle("ambiguous")
    if rows[0]["stale"]:
        raise UnclearHandle("stale")
    return Person(**{k: rows[0][k] for k in Person.__dataclass_fields__})


async def _refresh_role(conn: asyncpg.Connection, user_id: uuid.UUID) -> str:
    """Non-admins are 'tutor' while they tutor any course actively, 'learner' otherwise."""
    return await conn.fetchval(
        """
        UPDATE users u SET role = CASE
            WHEN u.role = 'admin' THEN 'admin'::user_role
            WHEN EXISTS (SELECT 1 FROM tutors t JOIN course_tutors ct ON ct.tutor_id = t.id
                         WHERE t.user_id = u.id AND ct.is_active) THEN 'tutor'::user_role
            ELSE 'learner'::user_role END
        WHERE u.id = $1
        RETURNING role::text
        """,
        user_id,
    )


async def grant_admin(conn: asyncpg.Connection, user_id: uuid.UUID) -> bool:
    """True when the user was not an admin before."""
    changed = await conn.fetchval(
        "UPDATE users SET role = 'admin' WHERE id = $1 AND role <> 'admin' RETURNING true",
        user_id,
    )
    return bool(changed)


async def revoke_admin(conn: asyncpg.Connection, user_id: uuid.UUID) -> bool:
    """True when the user was an admin. Call inside a transaction: the role and its
    refreshed menu change together."""
    require_tx(conn)
    was = await conn.fetchval(
        "UPDATE users SET role = 'learner' WHERE id = $1 AND role = 'admin' RETURNING true",
        user_id,
    )
    await _refresh_role(conn, user_id)
    return bool(was)


async def grant_tutor(conn: asyncpg.Connection, user_id: uuid.UUID, course_id: uuid.UUID) -> bool:
    """Make the user an active tutor of the course; True when that is new.
    Call inside a transaction: its statements commit or fail together."""
    require_tx(conn)
    tutor_id = await conn.fetchval(
        """
        INSERT INTO tutors (user_id) VALUES ($1)
        ON CONFLICT (user_id) DO UPDATE SET user_id = EXCLUDED.user_id
        RETURNING id
        """,
        user_id,
    )
    fresh = await conn.fetchval(
        """
        INSERT INTO course_tutors (course_id, tutor_id, is_active) VALUES ($1, $2, true)
        ON CONFLICT (course_id, tutor_id) DO UPDATE SET is_active = true
            WHERE NOT course_tutors.is_active
        RETURNING true
        """,
        course_id, tutor_id,
    )
    await _refresh_role(conn, user_id)
    return bool(fresh)


async def revoke_tutor(
    conn: asyncpg.Connection, user_id: uuid.UUID, course_id: uuid.UUID | None = None
) -> int:
    """Deactivate the user's tutoring of one course (or all); returns how many were active.
    Rows are kept (is_active = false) so the history of who tutored what survives.
    Call inside a transaction: its statements commit or fail together."""
    require_tx(conn)
    result = await conn.execute(
        """
        UPDATE course_tutors ct SET is_active = false
        FROM tutors t
        WHERE t.id = ct.tutor_id AND t.user_id = $1 AND ct.is_active
          AND ($2::uuid IS NULL OR ct.course_id = $2)
        """,
        user_id, course_id,
    )
    await _refresh_role(conn, user_id)
    return int(result.split()[-1])


async def is_course_tutor(
    conn: asyncpg.Connection, user_id: uuid.UUID, course_id: uuid.UUID
) -> bool:
    return bool(await conn.fetchval(
        """
        SELECT EXISTS (SELECT 1 FROM tutors t JOIN course_tutors ct ON ct.tutor_id = t.id
                       WHERE t.user_id = $1 AND ct.course_id = $2 AND ct.is_active)
        """,
        user_id, course_id,
    ))


async def tutored_course_ids(conn: asyncpg.Connection, user_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await conn.fetch(
        """
        SELECT ct.course_id FROM tutors t JOIN course_tutors ct ON ct.tutor_id = t.id
        WHERE t.user_id = $1 AND ct.is_active
        """,
        user_id,
    )
    return [r["course_id"] for r in rows]


async def menu_of(conn: asyncpg.Connection, user_id: uuid.UUID
                  ) -> tuple[int, str, str] | None:
    """(telegram id, role, locale) of a person who has talked to the bot: whose command menu
    to set, in which language."""
    row = await conn.fetchrow("SELECT telegram_id, role::text, locale FROM users WHERE id = $1",
                              user_id)
    return (row["telegram_id"], row["role"], row["locale"]) if row and row["telegram_id"] else None
