"""Feedback on answers (migration 0170): each answer kept with its question, passages and
citations; one 👍/👎 per learner and answer, changeable; helpfulness per course and the
down-voted answers for /stats and /downvoted.

Only the learner who asked may vote on an answer: the button's payload names the answer, and
`vote` checks its owner against the acting user, so a forged payload changes nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg


async def record_answer(
    conn: asyncpg.Connection, *, user_id: uuid.UUID, course_id: uuid.UUID,
    topic_id: uuid.UUID | None, session_id: uuid.UUID | None, question: str, answer: str,
    mode: str, passages: list[dict], citations: list[dict],
) -> uuid.UUID:
    return await conn.fetchval(
        """
        INSERT INTO rag_answers (user_id, course_id, topic_id, session_id, question, answer,
                                 mode, passages, citations)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        RETURNING id
        """,
        user_id, course_id, topic_id, session_id, question, answer, mode, passages, citations,
    )


VoteOutcome = Literal["recorded", "changed", "same", "refused"]


async def vote(conn: asyncpg.Connection, answer_id: uuid.UUID, user_id: uuid.UUID,
               helpful: bool) -> VoteOutcome:
    """The learner's vote on their own answer: new, changed or the same again; "refused" when
    the answer doesn't exist or isn't theirs (nothing is written)."""
    row = await conn.fetchrow(
        """
        WITH before AS (
            SELECT helpful FROM rag_answer_votes WHERE answer_id = $1 AND user_id = $2
        ), up AS (
            INSERT INTO rag_answer_votes AS v (answer_id, user_id, helpful)
            SELECT a.id, $2, $3 FROM rag_answers a WHERE a.id = $1 AND a.user_id = $2
            ON CONFLICT (answer_id, user_id) DO UPDATE
                SET helpful = EXCLUDED.helpful, updated_at = now()
                WHERE v.helpful IS DISTINCT FROM EXCLUDED.helpful
            RETURNING 1
        )
        SELECT EXISTS (SELECT 1 FROM rag_answers WHERE id = $1 AND user_id = $2) AS owned,
               (SELECT helpful FROM before) AS before,
               EXISTS (SELECT 1 FROM up) AS wrote
        """,
        answer_id, user_id, helpful,
    )
    if not row["owned"]:
        return "refused"
    if row["before"] is None:
        return "recorded"
    return "changed" if row["wrote"] else "same"


async def vote_of(conn: asyncpg.Connection, answer_id: uuid.UUID,
                  user_id: uuid.UUID) -> bool | None:
    return await conn.fetchval(
        "SELECT helpful FROM rag_answer_votes WHERE answer_id = $1 AND user_id = $2",
        answer_id, user_id,
    )


@dataclass(frozen=True)
class Helpfulness:
    slug: str
    title: str
    answers: int
    up: int
    down: int

    @property
    def votes(self) -> int:
        return self.up + self.down

    @property
    def rate(self) -> int | None:
        """Percent of votes that said helpful; None without votes."""
        return round(100 * self.up / self.votes) if self.votes else None


async def helpfulness(conn: asyncpg.Connection,
                      course_id: uuid.UUID | None = None) -> list[Helpfulness]:
    """Answers given and votes per course (every course, or one), courses with answers only."""
    rows = await conn.fetch(
        """
        SELECT c.slug, c.title, count(DISTINCT a.id) AS answers,
               count(v.*) FILTER (WHERE v.helpful) AS up,
               count(v.*) FILTER (WHERE NOT v.helpful) AS down
        FROM courses c
        JOIN rag_answers a ON a.course_id = c.id
        LEFT JOIN rag_answer_votes v ON v.answer_id = a.id
        WHERE $1::uuid IS NULL OR c.id = $1
        GROUP BY c.id
        ORDER BY c.title
        """,
        course_id,
    )
    return [Helpfulness(**dict(r)) for r in rows]


@dataclass(frozen=True)
class DownvotedQuestion:
    course_slug: str
    question: str
    down: int
    up: int


async def most_downvoted_questions(
    conn: asyncpg.Connection, course_id: uuid.UUID | None = None, *, limit: int = 5,
) -> list[DownvotedQuestion]:
    """Questions (the same words, however capitalised or spaced, asked by anyone) by their
    👎 count, most first."""
    rows = await conn.fetch(
        """
        SELECT c.slug AS course_slug, min(a.question) AS question,
               count(*) FILTER (WHERE NOT v.helpful) AS down,
               count(*) FILTER (WHERE v.helpful) AS up
        FROM rag_answers a
        JOIN rag_answer_votes v ON v.answer_id = a.id
        JOIN courses c ON c.id = a.course_id
        WHERE $1::uuid IS NULL OR a.course_id = $1
        GROUP BY c.slug, lower(regexp_replace(btrim(a.question), '\\s+', ' ', 'g'))
        HAVING count(*) FILTER (WHERE NOT v.helpful) > 0
        ORDER BY down DESC, up, question
        LIMIT $2
        """,
        course_id, limit,
    )
    return [DownvotedQuestion(**dict(r)) for r in rows]


@dataclass(frozen=True)
class DownvotedAnswer:
    id: uuid.UUID
    question: str
    answer: str
    mode: str
    topic_title: str | None
    cited: list[str]  # topic titles of the citations
    retrieved: list[str]  # topic titles of every passage retrieved, best first
    voted_at: datetime


async def downvoted_answers(conn: asyncpg.Connection, course_id: uuid.UUID, *,
                            limit: int = 10) -> list[DownvotedAnswer]:
    """A course's 👎 answers, latest vote first: what a tutor reads to fix the material."""
    rows = await conn.fetch(
        """
        SELECT a.id, a.question, a.answer, a.mode, t.title AS topic_title,
               ARRAY(SELECT c->>'topic_title' FROM jsonb_array_elements(a.citations) c)
                   AS cited,
               ARRAY(SELECT p->>'topic_title' FROM jsonb_array_elements(a.passages) p)
                   AS retrieved,
               v.updated_at AS voted_at
        FROM rag_answers a
        JOIN rag_answer_votes v ON v.answer_id = a.id AND NOT v.helpful
        LEFT JOIN topics t ON t.id = a.topic_id
        WHERE a.course_id = $1
        ORDER BY v.updated_at DESC, a.id
        LIMIT $2
        """,
        course_id, limit,
    )
    return [DownvotedAnswer(**{**dict(r), "cited": list(r["cited"]),
                               "retrieved": list(r["retrieved"])}) for r in rows]
