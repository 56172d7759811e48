"""Personas per learner and course: the content style (`topic_personalization`, which also
picks journeys' `topic_content_assets` variants) and the learner profile
(`learner_persona_profiles`), which shapes how answers are explained."""

from __future__ import annotations

import uuid

import asyncpg

PERSONAS = ("normal", "sports", "cooking", "adventure")
PROFILES = ("non_it_migrant", "rote_memorizer", "english_hesitant", "last_minute_panic",
            "pseudo_coder")


async def course_personas(conn: asyncpg.Connection, course_id: uuid.UUID) -> list[str]:
    found = await conn.fetchval("SELECT personas::text[] FROM courses WHERE id = $1", course_id)
    return list(found or ["normal"])


async def current(
    conn: asyncpg.Connection, user_id: uuid.UUID, course_id: uuid.UUID
) -> tuple[str, str | None]:
    row = await conn.fetchrow(
        """
        SELECT (SELECT persona::text FROM topic_personalization
                WHERE user_id = $1 AND course_id = $2) AS persona,
               (SELECT persona_key::text FROM learner_persona_profiles
                WHERE user_id = $1 AND course_id = $2) AS profile
        """,
        user_id, course_id,
    )
    return row["persona"] or "normal", row["profile"]


async def set_persona(
    conn: asyncpg.Connection, user_id: uuid.UUID, course_id: uuid.UUID, persona: str
) -> None:
    await conn.execute(
        """
        INSERT INTO topic_personalization (user_id, course_id, persona)
        VALUES ($1, $2, $3::persona)
        ON CONFLICT (user_id, course_id) DO UPDATE SET persona = EXCLUDED.persona
        """,
        user_id, course_id, persona,
    )


async def set_profile(
    conn: asyncpg.Connection, user_id: uuid.UUID, course_id: uuid.UUID, profile: str | None
) -> None:
    if profile is None:
        await conn.execute(
            "DELETE FROM learner_persona_profiles WHERE user_id = $1 AND course_id = $2",
            user_id, course_id,
        )
        return
    await conn.execute(
        """
        INSERT INTO learner_persona_profiles (user_id, course_id, persona_key)
        VALUES ($1, $2, $3::persona_key)
        ON CONFLICT (user_id, course_id) DO UPDATE SET persona_key = EXCLUDED.persona_key
        """,
        user_id, course_id, profile,
    )


async def enrolled_course_title(
    conn: asyncpg.Connection, user_id: uuid.UUID, course_id: uuid.UUID
) -> str | None:
    """The course's title if the learner is enrolled in it (buttons name a course, not a user)."""
    return await conn.fetchval(
        """
        SELECT course_title(c.id, (SELECT locale FROM users WHERE id = $2))
        FROM courses c JOIN course_users cu ON cu.course_id = c.id
        WHERE c.id = $1 AND cu.user_id = $2
        """,
        course_id, user_id,
    )
