"""XP, levels, streaks and badges in the database (the rules are `domain.progression`). Every
award is idempotent: XP through `xp_events`' unique (user, source), badges through
`user_badges`' unique (user, badge, scope) — so retries and races can't count anything twice;
a streak is counted under the user row's lock."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from domain import progression
from domain.progression import JOURNEY_XP, QUIZ_XP, XP_PER_LEVEL, Streak
from storage.pg import json_value, require_tx
from storage.reads import Reader

__all__ = ["JOURNEY_XP", "QUIZ_XP", "XP_PER_LEVEL"]


@dataclass(frozen=True)
class Badge:
    code: str
    name: str
    description: str
    emoji: str


async def award_xp(
    conn: asyncpg.Connection, user_id: uuid.UUID, course_id: uuid.UUID | None, source: str,
    amount: int,
) -> int:
    """Add XP once per (user, source); returns the XP actually added (0 if already given)."""
    row = await conn.fetchrow(
        """
        WITH ins AS (
            INSERT INTO xp_events (user_id, course_id, source, amount) VALUES ($1, $2, $3, $4)
            ON CONFLICT (user_id, source) DO NOTHING RETURNING amount
        )
        UPDATE users SET xp_total = xp_total + ins.amount
        FROM ins WHERE users.id = $1
        RETURNING ins.amount, users.xp_total
        """,
        user_id, course_id, source, amount,
    )
    if row is None:
        return 0
    await conn.execute("UPDATE users SET level = $2 WHERE id = $1 AND level <> $2",
                       user_id, progression.level_for(row["xp_total"]))
    return row["amount"]


async def journey_xp(conn: asyncpg.Connection, topic_id: uuid.UUID) -> int:
    return progression.journey_xp(await conn.fetchval(
        "SELECT difficulty::text FROM topics WHERE id = $1", topic_id))


async def quiz_xp(conn: asyncpg.Connection, course_id: uuid.UUID, module_no: int) -> int:
    rows = await conn.fetch(
        "SELECT difficulty::text AS d FROM topics "
        "WHERE course_id = $1 AND module_no = $2 AND archived_at IS NULL",
        course_id, module_no,
    )
    return progression.quiz_xp(r["d"] for r in rows)


async def bump_streak(conn: asyncpg.Connection, user_id: uuid.UUID, now: datetime) -> int:
    """Count `now`'s *local* date (in the learner's current zone) as an active day (see
    `progression.count_active_day`); the row lock makes concurrent counts line up."""
    require_tx(conn)
    row = await conn.fetchrow(
        """
        SELECT streak_current, streak_longest, streak_last_date,
               ($2::timestamptz AT TIME ZONE timezone)::date AS today
        FROM users WHERE id = $1 FOR UPDATE
        """,
        user_id, now,
    )
    before = Streak(row["streak_current"], row["streak_longest"], row["streak_last_date"])
    after = progression.count_active_day(before, row["today"])
    if after != before:
        await conn.execute(
            "UPDATE users SET streak_current = $2, streak_longest = $3, streak_last_date = $4 "
            "WHERE id = $1", user_id, after.current, after.longest, after.last_date)
    return after.current


async def award_badge(
    conn: asyncpg.Connection, user_id: uuid.UUID, code: str, scope: str = "",
    context: dict | None = None,
) -> Badge | None:
    """Award once per (user, badge, scope). Returns the badge only for the call that won."""
    row = await conn.fetchrow(
        """
        WITH b AS (SELECT id, code, name, description, media FROM badges
                   WHERE code = $2 AND active),
        ins AS (
            INSERT INTO user_badges (user_id, badge_id, context)
            SELECT $1, b.id, $3 FROM b
            ON CONFLICT (user_id, badge_id, context_key) DO NOTHING
            RETURNING badge_id
        )
        SELECT b.code, b.name, b.description, coalesce(b.media ->> 'emoji', '🏅') AS emoji
        FROM ins JOIN b ON b.id = ins.badge_id
        """,
        user_id, code, {**(context or {}), "scope": scope},
    )
    return Badge(**dict(row)) if row else None


async def rule_values(conn: asyncpg.Connection, rule_type: str) -> list[tuple[str, dict]]:
    rows = await conn.fetch(
        """
        SELECT b.code, r.criteria FROM badge_rules r JOIN badges b ON b.id = r.badge_id
        WHERE r.type = $1 AND r.active AND b.active
        """,
        rule_type,
    )
    return [(r["code"], r["criteria"]) for r in rows]


async def streak_badges(
    conn: asyncpg.Connection, user_id: uuid.UUID, streak: int
) -> list[Badge]:
    rules = await rule_values(conn, "streak")
    days = {code: criteria.get("days") for code, criteria in rules}
    won = []
    for code in progression.streak_badges_due(streak, rules):
        badge = await award_badge(conn, user_id, code, "", {"days": days[code]})
        if badge:
            won.append(badge)
    return won


async def scoped_badges(
    conn: asyncpg.Connection, user_id: uuid.UUID, rule_type: str, scope: str,
    context: dict | None = None,
) -> list[Badge]:
    won = []
    for code, _criteria in await rule_values(conn, rule_type):
        badge = await award_badge(conn, user_id, code, scope, context)
        if badge:
            won.append(badge)
    return won


async def badges_of(conn: asyncpg.Connection, user_id: uuid.UUID) -> list[tuple[Badge, datetime]]:
    rows = await conn.fetch(
        """
        SELECT b.code, b.name, b.description, coalesce(b.media ->> 'emoji', '🏅') AS emoji,
               ub.awarded_at
        FROM user_badges ub JOIN badges b ON b.id = ub.badge_id
        WHERE ub.user_id = $1 ORDER BY ub.awarded_at
        """,
        user_id,
    )
    return [(Badge(r["code"], r["name"], r["description"], r["emoji"]), r["awarded_at"])
            for r in rows]


@dataclass(frozen=True)
class Standing:
    """What /badges shows: the badges won (oldest first), XP, level and streaks."""

    badges: list[tuple[Badge, datetime]]
    xp_total: int
    level: int
    streak_current: int
    streak_longest: int


async def standing(conn: Reader, user_id: uuid.UUID) -> Standing | None:
    """`badges_of`, `level_of` and the user's XP and streaks, in one round trip."""
    row = await conn.fetchrow(
        """
        SELECT u.xp_total, u.level, u.streak_current, u.streak_longest,
               (SELECT coalesce(json_agg(json_build_object(
                           'code', b.code, 'name', b.name, 'description', b.description,
                           'emoji', coalesce(b.media ->> 'emoji', '🏅'),
                           'awarded_at', ub.awarded_at) ORDER BY ub.awarded_at), '[]')
                FROM user_badges ub JOIN badges b ON b.id = ub.badge_id
                WHERE ub.user_id = u.id) AS badges
        FROM users u WHERE u.id = $1
        """,
        user_id,
    )
    if row is None:
        return None
    items = json_value(row["badges"])
    return Standing(
        badges=[(Badge(b["code"], b["name"], b["description"], b["emoji"]),
                 datetime.fromisoformat(b["awarded_at"])) for b in items],
        xp_total=row["xp_total"], level=row["level"] or 1,
        streak_current=row["streak_current"], streak_longest=row["streak_longest"],
    )


async def level_of(conn: asyncpg.Connection, user_id: uuid.UUID) -> int:
    return await conn.fetchval("SELECT level FROM users WHERE id = $1", user_id) or 1
