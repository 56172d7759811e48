"""XP, levels, streaks and badges (seeds 002 and 003). Every award is idempotent in the
database: XP through `xp_events`' unique (user, source), badges through `user_badges`' unique
(user, badge, scope) — so retries and races can't count anything twice."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

JOURNEY_XP = 10  # per completed journey, times the topic's difficulty multiplier
QUIZ_XP = 25  # per passed module quiz, times the module's hardest difficulty
XP_PER_LEVEL = 100


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
    added = await conn.fetchval(
        """
        WITH ins AS (
            INSERT INTO xp_events (user_id, course_id, source, amount) VALUES ($1, $2, $3, $4)
            ON CONFLICT (user_id, source) DO NOTHING RETURNING amount
        )
        UPDATE users SET xp_total = xp_total + ins.amount,
                         level = 1 + (xp_total + ins.amount) / $5
        FROM ins WHERE users.id = $1
        RETURNING ins.amount
        """,
        user_id, course_id, source, amount, XP_PER_LEVEL,
    )
    return added or 0


async def journey_xp(conn: asyncpg.Connection, topic_id: uuid.UUID) -> int:
    return await conn.fetchval(
        "SELECT $2::int * difficulty_multiplier(difficulty) FROM topics WHERE id = $1",
        topic_id, JOURNEY_XP,
    )


async def quiz_xp(conn: asyncpg.Connection, course_id: uuid.UUID, module_no: int) -> int:
    mult = await conn.fetchval(
        "SELECT max(difficulty_multiplier(difficulty)) FROM topics "
        "WHERE course_id = $1 AND module_no = $2 AND archived_at IS NULL",
        course_id, module_no,
    )
    return QUIZ_XP * (mult or 1)


async def bump_streak(conn: asyncpg.Connection, user_id: uuid.UUID, now: datetime) -> int:
    """Count `now`'s *local* date (in the learner's current zone) as an active day.

    Same local day: unchanged. The day after the last active one: +1. Otherwise: back to 1.
    A zone change that lands on an already-counted date changes nothing."""
    return await conn.fetchval(
        """
        WITH d AS (SELECT ($2::timestamptz AT TIME ZONE timezone)::date AS today
                   FROM users WHERE id = $1)
        UPDATE users u SET
            streak_current = CASE
                WHEN u.streak_last_date >= d.today THEN u.streak_current
                WHEN u.streak_last_date = d.today - 1 THEN u.streak_current + 1
                ELSE 1 END,
            streak_longest = greatest(u.streak_longest, CASE
                WHEN u.streak_last_date >= d.today THEN u.streak_current
                WHEN u.streak_last_date = d.today - 1 THEN u.streak_current + 1
                ELSE 1 END),
            streak_last_date = greatest(u.streak_last_date, d.today)
        FROM d WHERE u.id = $1
        RETURNING u.streak_current
        """,
        user_id, now,
    )


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
    won = []
    for code, criteria in await rule_values(conn, "streak"):
        if streak >= int(criteria.get("days", 10**9)):
            badge = await award_badge(conn, user_id, code, "", {"days": criteria.get("days")})
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


async def level_of(conn: asyncpg.Connection, user_id: uuid.UUID) -> int:
    return await conn.fetchval("SELECT level FROM users WHERE id = $1", user_id) or 1
