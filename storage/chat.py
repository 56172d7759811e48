"""Ask-the-course conversations: the learner's current context, sessions and their messages.

A session is per (user, course, topic); `summary_message_count` is how many of its messages (in
order) are no longer sent to the model verbatim — folded into `summary`, or dropped by /new,
which starts fresh while keeping the transcript.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True)
class AskContext:
    """Where a learner's question is aimed: the topic of their latest journey delivery."""

    user_id: uuid.UUID
    course_id: uuid.UUID
    course_slug: str
    course_title: str
    prompt_quota: int
    topic_id: uuid.UUID | None
    topic_title: str | None
    module_no: int
    module_title: str
    persona: str
    profile: str | None


_CONTEXT_SELECT = """
    SELECT cu.user_id, cu.course_id, c.slug AS course_slug,
           course_title(c.id, (SELECT locale FROM users WHERE id = cu.user_id)) AS course_title,
           c.prompt_quota, t.id AS topic_id,
           coalesce((SELECT tt.title FROM topic_translations tt WHERE tt.topic_id = t.id
                       AND tt.language = (SELECT locale FROM users WHERE id = cu.user_id)),
                    t.title) AS topic_title,
           coalesce(t.module_no, 1) AS module_no,
           coalesce((SELECT tt.module_title FROM topic_translations tt
                     WHERE tt.topic_id = t.id
                       AND tt.language = (SELECT locale FROM users WHERE id = cu.user_id)),
                    t.module_title,
                    (SELECT t2.module_title FROM topics t2
                     WHERE t2.course_id = c.id AND t2.module_no = 1
                     LIMIT 1), '') AS module_title,
           coalesce((SELECT tp.persona::text FROM topic_personalization tp
                     WHERE tp.user_id = cu.user_id AND tp.course_id = cu.course_id),
                    'normal') AS persona,
           (SELECT lp.persona_key::text FROM learner_persona_profiles lp
            WHERE lp.user_id = cu.user_id AND lp.course_id = cu.course_id) AS profile
    FROM course_users cu
    JOIN courses c ON c.id = cu.course_id
"""


async def ask_context(conn: asyncpg.Connection, user_id: uuid.UUID) -> AskContext | None:
    """The course and topic of the learner's latest delivery: in the course they picked with
    /course, else in any course; None if enrolled in nothing (left courses don't count).
    Enrolled but never delivered → the most recent course, no topic."""
    row = await conn.fetchrow(
        f"""
        {_CONTEXT_SELECT}
        LEFT JOIN LATERAL (
            SELECT d.journey_id, d.local_date, d.created_at FROM journey_deliveries d
            WHERE d.course_user_id = cu.id
            ORDER BY d.local_date DESC, d.created_at DESC LIMIT 1
        ) ld ON true
        LEFT JOIN journeys j ON j.id = ld.journey_id
        LEFT JOIN topics t ON t.id = j.topic_id
        WHERE cu.user_id = $1 AND cu.left_at IS NULL
        ORDER BY cu.chosen_at DESC NULLS LAST, ld.local_date DESC NULLS LAST,
                 ld.created_at DESC NULLS LAST, cu.created_at DESC
        LIMIT 1
        """,
        user_id,
    )
    return AskContext(**dict(row)) if row else None


async def topic_context(
    conn: asyncpg.Connection, user_id: uuid.UUID, topic_id: uuid.UUID
) -> AskContext | None:
    """Context for a question about a given topic (a tapped suggestion); None unless the learner
    is enrolled in its course."""
    row = await conn.fetchrow(
        f"""
        {_CONTEXT_SELECT}
        JOIN topics t ON t.course_id = cu.course_id AND t.id = $2
        WHERE cu.user_id = $1 AND cu.left_at IS NULL
        """,
        user_id, topic_id,
    )
    return AskContext(**dict(row)) if row else None


@dataclass(frozen=True)
class Session:
    id: uuid.UUID
    user_id: uuid.UUID
    course_id: uuid.UUID
    topic_id: uuid.UUID | None
    summary: str
    summary_message_count: int
    summary_updated_at: datetime | None


@dataclass(frozen=True)
class Message:
    role: str
    content: str
    citations: list


_SESSION_COLUMNS = ("id, user_id, course_id, topic_id, summary, summary_message_count, "
                    "summary_updated_at")


async def session_for(
    conn: asyncpg.Connection, user_id: uuid.UUID, course_id: uuid.UUID,
    topic_id: uuid.UUID | None,
) -> Session:
    row = await conn.fetchrow(
        f"""
        INSERT INTO cp_rag_chat_sessions (user_id, course_id, topic_id) VALUES ($1, $2, $3)
        ON CONFLICT (user_id, course_id, topic_id) DO UPDATE SET updated_at = now()
        RETURNING {_SESSION_COLUMNS}
        """,
        user_id, course_id, topic_id,
    )
    return Session(**dict(row))


async def get_session(conn: asyncpg.Connection, session_id: uuid.UUID) -> Session | None:
    row = await conn.fetchrow(
        f"SELECT {_SESSION_COLUMNS} FROM cp_rag_chat_sessions WHERE id = $1", session_id
    )
    return Session(**dict(row)) if row else None


# Session order: creation time, a question before its own answer.
_ORDER = "created_at, (role = 'assistant'), id"


async def messages(
    conn: asyncpg.Connection, session_id: uuid.UUID, *, start: int = 0, end: int | None = None
) -> list[Message]:
    """Messages [start, end) in session order."""
    rows = await conn.fetch(
        f"""
        SELECT role::text AS role, content, citations FROM cp_rag_chat_messages
        WHERE session_id = $1 ORDER BY {_ORDER} OFFSET $2 LIMIT $3
        """,
        session_id, start, None if end is None else max(0, end - start),
    )
    return [Message(r["role"], r["content"], r["citations"]) for r in rows]


async def message_count(conn: asyncpg.Connection, session_id: uuid.UUID) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM cp_rag_chat_messages WHERE session_id = $1", session_id
    )


async def add_turn(
    conn: asyncpg.Connection, session: Session, question: str, answer: str, citations: list
) -> None:
    """Both halves of a turn in one statement (clock_timestamp orders the question first)."""
    await conn.execute(
        """
        INSERT INTO cp_rag_chat_messages (session_id, user_id, role, content, citations)
        VALUES ($1, $2, 'user', $3, '[]'), ($1, $2, 'assistant', $4, $5)
        """,
        session.id, session.user_id, question, answer, citations,
    )
    await conn.execute(
        "UPDATE cp_rag_chat_sessions SET updated_at = now() WHERE id = $1", session.id
    )


async def save_summary(
    conn: asyncpg.Connection, session_id: uuid.UUID, summary: str, *, folded_from: int,
    folded_to: int, now: datetime | None = None,
) -> bool:
    """Compare-and-set: only the fold that started from the current count wins."""
    row = await conn.fetchval(
        """
        UPDATE cp_rag_chat_sessions
        SET summary = $2, summary_message_count = $4,
            summary_updated_at = coalesce($5, now())
        WHERE id = $1 AND summary_message_count = $3
        RETURNING id
        """,
        session_id, summary, folded_from, folded_to, now,
    )
    return row is not None


async def start_fresh(
    conn: asyncpg.Connection, user_id: uuid.UUID, course_id: uuid.UUID,
    topic_id: uuid.UUID | None,
) -> int:
    """/new: forget the conversation (summary and turns) but keep the transcript; returns how
    many messages were set aside."""
    count = await conn.fetchval(
        """
        UPDATE cp_rag_chat_sessions s
        SET summary = '', summary_updated_at = now(),
            summary_message_count = (SELECT count(*) FROM cp_rag_chat_messages m
                                     WHERE m.session_id = s.id)
        WHERE user_id = $1 AND course_id = $2 AND topic_id IS NOT DISTINCT FROM $3
        RETURNING summary_message_count
        """,
        user_id, course_id, topic_id,
    )
    return int(count or 0)
