"""Suggested prompts (`topic_prompt_suggestions`): a topic's starters and their follow-ups."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class Suggestion:
    id: uuid.UUID
    course_id: uuid.UUID
    topic_id: uuid.UUID
    parent_id: uuid.UUID | None
    text: str


_COLUMNS = ("s.id, s.course_id, s.topic_id, s.parent_suggestion_id AS parent_id, "
            "coalesce(st.prompt_text, s.prompt_text) AS text")
# The suggestion in the learner's language where the course has it.
_TRANSLATED = ("LEFT JOIN suggestion_translations st ON st.suggestion_id = s.id "
               "AND st.language = {lang}")


async def get(conn: asyncpg.Connection, suggestion_id: uuid.UUID, lang: str = "en"
              ) -> Suggestion | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM topic_prompt_suggestions s {_TRANSLATED.format(lang='$2')} "
        "WHERE s.id = $1",
        suggestion_id, lang,
    )
    return Suggestion(**dict(row)) if row else None


async def starters(
    conn: asyncpg.Connection, course_id: uuid.UUID, topic_id: uuid.UUID | None, limit: int = 3,
    exclude: uuid.UUID | None = None, lang: str = "en",
) -> list[Suggestion]:
    """Top-level suggestions for the topic; the course's first ones when it has none."""
    rows = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM topic_prompt_suggestions s {_TRANSLATED.format(lang='$5')}
        JOIN topics t ON t.id = s.topic_id AND t.archived_at IS NULL
        WHERE s.course_id = $1 AND s.parent_suggestion_id IS NULL
          AND s.id IS DISTINCT FROM $4
        ORDER BY (s.topic_id = $2) IS NOT TRUE, t.module_no, t.topic_number, s.order_index
        LIMIT $3
        """,
        course_id, topic_id, limit, exclude, lang,
    )
    return [Suggestion(**dict(r)) for r in rows]


async def follow_ups(
    conn: asyncpg.Connection, suggestion_id: uuid.UUID, limit: int = 3, lang: str = "en"
) -> list[Suggestion]:
    rows = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM topic_prompt_suggestions s {_TRANSLATED.format(lang='$3')}
        WHERE s.parent_suggestion_id = $1 ORDER BY s.order_index LIMIT $2
        """,
        suggestion_id, limit, lang,
    )
    return [Suggestion(**dict(r)) for r in rows]
