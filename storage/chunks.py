"""RAG passages (`course_chunks`): sync on import, and the two course-scoped searches.

Vector search orders by cosine distance through the HNSW index with `hnsw.ef_search` set for the
transaction, and iterative scans on, so a course-scoped filter still returns k rows when the
index neighbourhood holds other courses' chunks. Full-text search ranks OR-matches of the
question's lexemes (a learner's question rarely has *every* word in one passage), passages that
also match the strict `websearch_to_tsquery` first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
import numpy as np

DEFAULT_EF_SEARCH = 400


@dataclass(frozen=True)
class ChunkRow:
    chunk_id: str
    topic_id: uuid.UUID | None
    module_no: int
    ordinal: int
    heading: str
    content: str
    content_hash: str
    token_count: int
    embedding: np.ndarray | None


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    topic_id: uuid.UUID | None
    topic_title: str
    topic_key: str
    module_no: int
    module_title: str
    heading: str
    content: str
    similarity: float  # cosine similarity to the question, whichever search found it
    rank_score: float  # the search's own score (similarity, or ts_rank_cd)


async def stored_hashes(conn: asyncpg.Connection, course_slug: str) -> dict[str, str]:
    """chunk_id → content_hash of chunks that already have an embedding."""
    rows = await conn.fetch(
        """
        SELECT ch.chunk_id, ch.content_hash FROM course_chunks ch
        JOIN courses c ON c.id = ch.course_id
        WHERE c.slug = $1 AND ch.embedding IS NOT NULL
        """,
        course_slug,
    )
    return {r["chunk_id"]: r["content_hash"] for r in rows}


async def sync_course_chunks(
    conn: asyncpg.Connection, course_id: uuid.UUID, rows: list[ChunkRow]
) -> tuple[int, int]:
    """Make the course's chunks exactly `rows`; return (written, deleted).

    A row whose `embedding` is None keeps the stored vector when its hash is unchanged (and
    stays unembedded otherwise). Run inside the import's transaction."""
    await conn.execute(
        """
        CREATE TEMP TABLE IF NOT EXISTS _chunk_sync (
            chunk_id text, topic_id uuid, module_no int, ordinal int, heading text,
            content text, content_hash text, token_count int, embedding vector(384)
        ) ON COMMIT DROP
        """
    )
    await conn.execute("TRUNCATE _chunk_sync")
    await conn.copy_records_to_table(
        "_chunk_sync",
        records=[(r.chunk_id, r.topic_id, r.module_no, r.ordinal, r.heading, r.content,
                  r.content_hash, r.token_count, r.embedding) for r in rows],
    )
    written = await conn.fetchval(
        """
        WITH up AS (
            INSERT INTO course_chunks AS cc (chunk_id, course_id, topic_id, module_no, ordinal,
                                             heading, content, content_hash, token_count,
                                             embedding)
            SELECT chunk_id, $1, topic_id, module_no, ordinal, heading, content, content_hash,
                   token_count, embedding
            FROM _chunk_sync
            ON CONFLICT (chunk_id) DO UPDATE SET
                course_id = EXCLUDED.course_id, topic_id = EXCLUDED.topic_id,
                module_no = EXCLUDED.module_no, ordinal = EXCLUDED.ordinal,
                heading = EXCLUDED.heading, content = EXCLUDED.content,
                token_count = EXCLUDED.token_count,
                embedding = CASE
                    WHEN EXCLUDED.embedding IS NOT NULL THEN EXCLUDED.embedding
                    WHEN cc.content_hash = EXCLUDED.content_hash THEN cc.embedding
                    END,
                content_hash = EXCLUDED.content_hash
            WHERE (cc.course_id, cc.topic_id, cc.module_no, cc.ordinal, cc.heading, cc.content,
                   cc.content_hash, cc.token_count)
                  IS DISTINCT FROM
                  (EXCLUDED.course_id, EXCLUDED.topic_id, EXCLUDED.module_no, EXCLUDED.ordinal,
                   EXCLUDED.heading, EXCLUDED.content, EXCLUDED.content_hash,
                   EXCLUDED.token_count)
               OR (EXCLUDED.embedding IS NOT NULL AND cc.embedding IS NULL)
            RETURNING 1
        )
        SELECT count(*) FROM up
        """,
        course_id,
    )
    deleted = await conn.fetchval(
        """
        WITH gone AS (
            DELETE FROM course_chunks
            WHERE course_id = $1 AND chunk_id NOT IN (SELECT chunk_id FROM _chunk_sync)
            RETURNING 1
        )
        SELECT count(*) FROM gone
        """,
        course_id,
    )
    return int(written), int(deleted)


_HIT_COLUMNS = """
    ch.chunk_id, ch.topic_id, coalesce(t.title, '') AS topic_title,
    coalesce(t.key, '') AS topic_key, ch.module_no,
    coalesce(t.module_title, '') AS module_title, ch.heading, ch.content
"""


def _hit(r: asyncpg.Record) -> Hit:
    return Hit(r["chunk_id"], r["topic_id"], r["topic_title"], r["topic_key"], r["module_no"],
               r["module_title"], r["heading"], r["content"],
               float(r["similarity"] if r["similarity"] is not None else 0.0),
               float(r["rank_score"]))


async def vector_search(
    conn: asyncpg.Connection, course_id: uuid.UUID, query: np.ndarray, k: int,
    *, ef_search: int = DEFAULT_EF_SEARCH, exact: bool = False,
) -> list[Hit]:
    """Top-k by cosine similarity within one course (HNSW; `exact` scans instead)."""
    async with conn.transaction():
        await conn.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
        await conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        if exact:
            await conn.execute("SET LOCAL enable_indexscan = off")
        # relaxed_order streams neighbours only roughly in order: take a few times k from the
        # index, then let the outer sort pick the true top k among them.
        rows = await conn.fetch(
            f"""
            WITH near AS MATERIALIZED (
                SELECT ch.chunk_id, 1 - (ch.embedding <=> $2) AS similarity
                FROM course_chunks ch
                WHERE ch.course_id = $1 AND ch.embedding IS NOT NULL
                ORDER BY ch.embedding <=> $2
                LIMIT $4
            )
            SELECT {_HIT_COLUMNS}, near.similarity
            FROM near JOIN course_chunks ch USING (chunk_id)
            LEFT JOIN topics t ON t.id = ch.topic_id
            ORDER BY near.similarity DESC, ch.chunk_id
            LIMIT $3
            """,
            course_id, query, k, k if exact else max(4 * k, 40),
        )
    return [_hit({**dict(r), "rank_score": r["similarity"]}) for r in rows]


async def text_search(
    conn: asyncpg.Connection, course_id: uuid.UUID, question: str, k: int,
    query: np.ndarray | None = None,
) -> list[Hit]:
    """Top-k by full-text rank within one course; similarity filled in when `query` is given."""
    rows = await conn.fetch(
        f"""
        WITH q AS (
            SELECT websearch_to_tsquery('english', $2) AS strict,
                   (SELECT string_agg(quote_literal(lexeme), ' | ')
                    FROM unnest(tsvector_to_array(to_tsvector('english', $2))) AS lexeme
                    WHERE lexeme !~ '[\\'']'  -- keep the tsquery literal trivially valid
                   ) AS any_text
        ), qq AS (
            SELECT strict, CASE WHEN any_text IS NULL THEN NULL
                                ELSE any_text::tsquery END AS loose
            FROM q
        )
        , top AS MATERIALIZED (
            SELECT ch.chunk_id,
                   ts_rank_cd(ch.tsv, qq.loose, 1)
                   + CASE WHEN ch.tsv @@ qq.strict THEN 1 ELSE 0 END AS rank_score
            FROM course_chunks ch CROSS JOIN qq
            WHERE ch.course_id = $1 AND qq.loose IS NOT NULL AND ch.tsv @@ qq.loose
            ORDER BY rank_score DESC, ch.chunk_id
            LIMIT $3
        )
        -- topics and similarity for the k winners only, not for every matching row
        SELECT {_HIT_COLUMNS}, top.rank_score,
               CASE WHEN $4::vector IS NULL OR ch.embedding IS NULL THEN NULL
                    ELSE 1 - (ch.embedding <=> $4::vector) END AS similarity
        FROM top JOIN course_chunks ch USING (chunk_id)
        LEFT JOIN topics t ON t.id = ch.topic_id
        ORDER BY top.rank_score DESC, ch.chunk_id
        """,
        course_id, question, k, query,
    )
    return [_hit(r) for r in rows]


async def count(conn: asyncpg.Connection, course_id: uuid.UUID) -> tuple[int, int]:
    """(chunks, chunks with an embedding) of a course."""
    r = await conn.fetchrow(
        "SELECT count(*) AS n, count(embedding) AS e FROM course_chunks WHERE course_id = $1",
        course_id,
    )
    return int(r["n"]), int(r["e"])
