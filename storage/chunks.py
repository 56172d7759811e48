"""RAG passages (`course_chunks`): sync on import, and the two course-scoped searches.

Vector search scans a small course exactly and a large one through the HNSW index (forced, with
`hnsw.ef_search` and iterative scans set for the transaction, so a course-scoped filter still
returns k rows when the index neighbourhood holds other courses' chunks). Full-text search is
BM25 over the postings and per-course statistics that migration 0100 keeps in step with
`course_chunks`, bounded by migration 0140's impact-ordered postings.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

import asyncpg
import numpy as np

from storage.pg import require_tx

DEFAULT_EF_SEARCH = 200


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
    language: str = "en"


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
    rank_score: float  # the search's own score (similarity, or BM25)
    language: str = "en"  # the passage's (course_chunks.language)


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
            content text, content_hash text, token_count int, embedding vector(384),
            language text
        ) ON COMMIT DROP
        """
    )
    await conn.execute("TRUNCATE _chunk_sync")
    await conn.copy_records_to_table(
        "_chunk_sync",
        records=[(r.chunk_id, r.topic_id, r.module_no, r.ordinal, r.heading, r.content,
                  r.content_hash, r.token_count, r.embedding, r.language) for r in rows],
    )
    written = await conn.fetchval(
        """
        WITH up AS (
            INSERT INTO course_chunks AS cc (chunk_id, course_id, topic_id, module_no, ordinal,
                                             heading, content, content_hash, token_count,
                                             embedding, language)
            SELECT chunk_id, $1, topic_id, module_no, ordinal, heading, content, content_hash,
                   token_count, embedding, language
            FROM _chunk_sync
            ON CONFLICT (chunk_id) DO UPDATE SET
                course_id = EXCLUDED.course_id, topic_id = EXCLUDED.topic_id,
                language = EXCLUDED.language,
                module_no = EXCLUDED.module_no, ordinal = EXCLUDED.ordinal,
                heading = EXCLUDED.heading, content = EXCLUDED.content,
                token_count = EXCLUDED.token_count,
                embedding = CASE
                    WHEN EXCLUDED.embedding IS NOT NULL THEN EXCLUDED.embedding
                    WHEN cc.content_hash = EXCLUDED.content_hash THEN cc.embedding
                    END,
                content_hash = EXCLUDED.content_hash
            WHERE (cc.course_id, cc.topic_id, cc.module_no, cc.ordinal, cc.heading, cc.content,
                   cc.content_hash, cc.token_count, cc.language)
                  IS DISTINCT FROM
                  (EXCLUDED.course_id, EXCLUDED.topic_id, EXCLUDED.module_no, EXCLUDED.ordinal,
                   EXCLUDED.heading, EXCLUDED.content, EXCLUDED.content_hash,
                   EXCLUDED.token_count, EXCLUDED.language)
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


# A passage names its topic in the passage's own language (`_HIT_TOPIC` joins it).
_HIT_COLUMNS = """
    ch.chunk_id, ch.topic_id, coalesce(tt.title, t.title, '') AS topic_title,
    coalesce(t.key, '') AS topic_key, ch.module_no,
    coalesce(tt.module_title, t.module_title, '') AS module_title, ch.heading, ch.content,
    ch.language
"""
_HIT_TOPIC = """
    LEFT JOIN topics t ON t.id = ch.topic_id
    LEFT JOIN topic_translations tt ON tt.topic_id = ch.topic_id AND tt.language = ch.language
"""


def _hit(r: asyncpg.Record) -> Hit:
    return Hit(r["chunk_id"], r["topic_id"], r["topic_title"], r["topic_key"], r["module_no"],
               r["module_title"], r["heading"], r["content"],
               float(r["similarity"] if r["similarity"] is not None else 0.0),
               float(r["rank_score"]), r["language"])


# A course this small is scanned exactly: a few milliseconds, and nothing approximate.
EXACT_SCAN_MAX_CHUNKS = 2000
# So is a course of up to this many passages that is under half of all stored passages: the
# HNSW graph would mostly walk other courses' neighbours (iterative scans), while its own rows,
# vectors inline (migration 0141), are read in ~14 ms at 10k (bench/rag.py: 68 ms via HNSW).
EXACT_SCAN_SHARE_MAX_CHUNKS = 20_000


async def course_size(conn: asyncpg.Connection, course_id: uuid.UUID) -> tuple[int, int]:
    """(the course's passages, all passages), from the BM25 statistics and the planner's
    estimate: no scan."""
    row = await conn.fetchrow(
        """
        SELECT (SELECT sum(chunks) FROM course_text_stats WHERE course_id = $1) AS n,
               (SELECT reltuples FROM pg_class WHERE oid = 'course_chunks'::regclass) AS total
        """,
        course_id,
    )
    n = int(row["n"] or 0)
    return n, max(n, int(row["total"] or 0))


def scan_exactly(size: int, total: int) -> bool:
    return size <= EXACT_SCAN_MAX_CHUNKS or (size <= EXACT_SCAN_SHARE_MAX_CHUNKS
                                             and 2 * size < total)


async def search_languages(conn: asyncpg.Connection, course_id: uuid.UUID, language: str
                           ) -> tuple[str, str]:
    """(the language to search in, the course's default language): the learner's language
    when the course is written in it, else the default."""
    row = await conn.fetchrow(
        """
        SELECT (SELECT language FROM course_languages WHERE course_id = $1 AND position = 0)
                   AS fallback,
               EXISTS (SELECT 1 FROM course_languages WHERE course_id = $1 AND language = $2)
                   AS has
        """,
        course_id, language,
    )
    fallback = row["fallback"] or "en"
    return (language if row["has"] else fallback), fallback


# The passages a question in `$L` is answered from: those written in it, plus the default
# language's (`$D`) passages of topics that have no version in `$L`.
_LANGUAGE_FILTER = """
    (ch.language = {L} OR ({D} <> {L} AND ch.language = {D}
                           AND NOT EXISTS (SELECT 1 FROM course_chunks x
                                           WHERE x.topic_id = ch.topic_id
                                             AND x.language = {L})))
"""


async def vector_search(
    conn: asyncpg.Connection, course_id: uuid.UUID, query: np.ndarray, k: int,
    *, ef_search: int = DEFAULT_EF_SEARCH, exact: bool | None = None, language: str = "en",
    fallback: str | None = None,
) -> list[Hit]:
    """Top-k by cosine similarity within one course, among the passages in `language` and
    (when `fallback` names the default language) the default language's passages of topics
    not written in `language`.

    `exact=None` chooses (`scan_exactly`): a small course, or a mid-sized one that is a small
    share of all passages, is scanned exactly; otherwise the HNSW index is used, forced (no
    sequential scan), with its settings local to this transaction.

    Call inside a transaction: the settings are `SET LOCAL`, which does nothing on an
    autocommit connection (the search would run unforced and unsettled, silently)."""
    require_tx(conn)
    if exact is None:
        exact = scan_exactly(*await course_size(conn, course_id))
    # One round trip for the settings, local to this transaction. A cached generic plan
    # keeps the settings it was made under, so every execution is planned afresh (a
    # fraction of a millisecond): else "exact" could run a cached HNSW plan, or back.
    if exact:
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan;"
                           " SET LOCAL enable_indexscan = off")
    else:
        await conn.execute(
            "SET LOCAL plan_cache_mode = force_custom_plan;"
            f" SET LOCAL hnsw.ef_search = {int(ef_search)};"
            " SET LOCAL hnsw.iterative_scan = relaxed_order; SET LOCAL enable_seqscan = off")
    # relaxed_order streams neighbours only roughly in order: take a few times k from the
    # index, then let the outer sort pick the true top k among them.
    rows = await conn.fetch(
        f"""
        WITH near AS MATERIALIZED (
            SELECT ch.chunk_id, 1 - (ch.embedding <=> $2) AS similarity
            FROM course_chunks ch
            WHERE ch.course_id = $1 AND ch.embedding IS NOT NULL
              AND {_LANGUAGE_FILTER.format(L="$5", D="$6")}
            ORDER BY ch.embedding <=> $2
            LIMIT $4
        )
        SELECT {_HIT_COLUMNS}, near.similarity
        FROM near JOIN course_chunks ch USING (chunk_id)
        {_HIT_TOPIC}
        ORDER BY near.similarity DESC, ch.chunk_id
        LIMIT $3
        """,
        course_id, query, k, k if exact else max(4 * k, 40), language, fallback or language,
    )
    return [_hit({**dict(r), "rank_score": r["similarity"]}) for r in rows]


# BM25's usual constants: term-frequency saturation and length normalisation.
BM25_K1 = 1.2
BM25_B = 0.75
# Bounds that keep a search's cost independent of the course size (migration 0140): only the
# question's rarest words, each word's highest-impact postings, and exact BM25 for the best
# candidates of that first pass.
MAX_QUERY_TERMS = 16
MAX_POSTINGS_PER_TERM = 2000
RESCORE = 200


async def text_search(
    conn: asyncpg.Connection, course_id: uuid.UUID, question: str, k: int,
    query: np.ndarray | None = None, *, language: str = "en",
) -> list[Hit]:
    """Top-k by BM25 within one course's passages in `language` (`course_terms` postings,
    per-course-and-language document frequencies, the language's text-search configuration);
    similarity filled in when `query` is given. A passage needs only one of the
    question's words: rare words weigh most, so no strict AND-match is needed to rank well.

    Bounded: the question's MAX_QUERY_TERMS rarest words, at most MAX_POSTINGS_PER_TERM
    postings of each in impact order, summed to pick RESCORE candidates, which are then scored
    exactly. Below those bounds (every word of a course of up to 2,000 chunks) it is exact."""
    rows = await conn.fetch(
        f"""
        WITH q AS (
            SELECT DISTINCT lexeme FROM unnest(to_tsvector(text_search_config($10), $2))
        ), s AS (
            SELECT greatest(chunks, 1)::float8 AS n,
                   total_len / greatest(chunks, 1)::float8 AS avg_len
            FROM course_text_stats WHERE course_id = $1 AND language = $10
        ), w AS MATERIALIZED (
            SELECT l.lexeme, ln(1 + (s.n - l.df + 0.5) / (l.df + 0.5)) AS idf
            FROM course_lexemes l JOIN q USING (lexeme) CROSS JOIN s
            WHERE l.course_id = $1 AND l.language = $10
            ORDER BY l.df, l.lexeme
            LIMIT $7
        ), cand AS MATERIALIZED (
            SELECT p.chunk_id
            FROM w CROSS JOIN LATERAL (
                SELECT t.chunk_id, t.impact FROM course_terms t
                WHERE t.course_id = $1 AND t.language = $10 AND t.lexeme = w.lexeme
                ORDER BY t.impact DESC
                LIMIT $8
            ) p
            GROUP BY p.chunk_id
            ORDER BY sum(w.idf * p.impact) DESC, p.chunk_id
            LIMIT $9
        ), top AS MATERIALIZED (
            -- one primary-key probe per candidate and word: a common word's whole postings
            -- list is never read to find the candidates' few
            SELECT cand.chunk_id, r.rank_score
            FROM cand CROSS JOIN s CROSS JOIN LATERAL (
                SELECT sum(w.idf * t.tf * ($5::float8 + 1)
                           / (t.tf + $5::float8 * (1 - $6::float8
                                                    + $6::float8 * t.doc_len / s.avg_len)))
                           AS rank_score
                FROM w JOIN course_terms t
                  ON t.course_id = $1 AND t.lexeme = w.lexeme AND t.chunk_id = cand.chunk_id
            ) r
            ORDER BY r.rank_score DESC, cand.chunk_id
            LIMIT $3
        )
        -- topics and similarity for the k winners only, not for every matching row
        SELECT {_HIT_COLUMNS}, top.rank_score,
               CASE WHEN $4::vector IS NULL OR ch.embedding IS NULL THEN NULL
                    ELSE 1 - (ch.embedding <=> $4::vector) END AS similarity
        FROM top JOIN course_chunks ch USING (chunk_id)
        {_HIT_TOPIC}
        ORDER BY top.rank_score DESC, ch.chunk_id
        """,
        course_id, question, k, query, BM25_K1, BM25_B, MAX_QUERY_TERMS,
        MAX_POSTINGS_PER_TERM, RESCORE, language,
    )
    return [_hit(r) for r in rows]


async def with_similarities(conn: asyncpg.Connection, hits: list[Hit], query: np.ndarray
                            ) -> list[Hit]:
    """`hits` (found before the question was embedded) with their cosine similarity to
    `query` filled in; a passage deleted meanwhile is dropped."""
    rows = await conn.fetch(
        "SELECT chunk_id, coalesce(1 - (embedding <=> $2), 0) AS similarity"
        " FROM course_chunks WHERE chunk_id = ANY($1::text[])",
        [h.chunk_id for h in hits], query,
    )
    sims = {r["chunk_id"]: float(r["similarity"]) for r in rows}
    return [replace(h, similarity=sims[h.chunk_id]) for h in hits if h.chunk_id in sims]


async def count(conn: asyncpg.Connection, course_id: uuid.UUID) -> tuple[int, int]:
    """(chunks, chunks with an embedding) of a course."""
    r = await conn.fetchrow(
        "SELECT count(*) AS n, count(embedding) AS e FROM course_chunks WHERE course_id = $1",
        course_id,
    )
    return int(r["n"]), int(r["e"])


async def context_similarities(
    conn: asyncpg.Connection, course_id: uuid.UUID, query: np.ndarray,
    topic_ids: list[uuid.UUID],
) -> dict[tuple[uuid.UUID, str, str | None], float]:
    """Cosine similarity of `query` to the centroid (mean embedding) of each sub-section of the
    given topics, keyed (topic_id, language, heading), and of each whole topic, keyed
    (topic_id, language, None). Reads only those topics' passages."""
    rows = await conn.fetch(
        """
        SELECT topic_id, language, CASE WHEN GROUPING(heading) = 0 THEN heading END AS heading,
               1 - (avg(embedding) <=> $2) AS similarity
        FROM course_chunks
        WHERE course_id = $1 AND topic_id = ANY($3::uuid[]) AND embedding IS NOT NULL
        GROUP BY GROUPING SETS ((topic_id, language, heading), (topic_id, language))
        """,
        course_id, query, topic_ids,
    )
    return {(r["topic_id"], r["language"], r["heading"]): float(r["similarity"])
            for r in rows if r["similarity"] is not None}
