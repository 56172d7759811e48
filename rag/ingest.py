"""Course import → chunks → embeddings → `course_chunks`, in two steps around the transaction.

`prepare` chunks the course and embeds only the chunks whose content hash is new (seconds of
CPU, so it runs before any transaction is open). `write` runs inside the import's transaction,
after the topic rows: it re-checks the stored hashes (a concurrent import of the same course
may have landed meanwhile; the course row lock serializes us from here on) and replaces the
course's chunks — removed or archived topics' chunks go. If some chunk turned stale meanwhile,
`write` raises `StaleChunks` instead of embedding with the transaction open: the caller rolls
back, embeds them (`embed_more`) and tries again. A
failed import rolls back chunks and rows together, so a course is never half there.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
import numpy as np

from content.course_format import CourseSource
from rag.chunking import Chunk, chunk_course
from rag.embedding import DEFAULT_MODEL, Embedder
from storage import chunks as chunk_store
from storage.chunks import ChunkRow
from storage.uow import Transactor

Progress = Callable[[int, int], None]  # (chunks embedded so far, chunks to embed)


@dataclass
class PreparedChunks:
    slug: str
    model: str
    chunks: list[Chunk]
    hashes: dict[str, str]
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    embedded: int = 0


@dataclass(frozen=True)
class ChunkReport:
    chunks: int
    embedded: int
    written: int
    removed: int
    unembedded: int  # stored without a vector (no embedder); full-text search still finds them


async def _embed(
    embedder: Embedder, prepared: PreparedChunks, todo: list[Chunk], progress: Progress | None
) -> None:
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, len(todo))

    if progress is not None:
        progress(0, len(todo))
    vectors = await embedder.embed_documents([c.embed_text for c in todo], step)
    for chunk, vec in zip(todo, vectors, strict=True):
        prepared.vectors[chunk.chunk_id] = vec
    prepared.embedded += len(todo)


class StaleChunks(Exception):
    """Chunks changed by a concurrent import after `prepare`: embed them, then write again."""

    def __init__(self, chunks: list[Chunk]) -> None:
        super().__init__(f"{len(chunks)} chunks changed meanwhile")
        self.chunks = chunks


async def embed_more(embedder: Embedder, prepared: PreparedChunks, stale: StaleChunks) -> None:
    await _embed(embedder, prepared, stale.chunks, None)


async def prepare(
    db: Transactor, src: CourseSource, embedder: Embedder | None,
    progress: Progress | None = None,
) -> PreparedChunks:
    model = embedder.model_name if embedder else DEFAULT_MODEL
    chunks = chunk_course(src)
    prepared = PreparedChunks(src.slug, model, chunks,
                              {c.chunk_id: c.content_hash(model) for c in chunks})
    if embedder is None:
        return prepared
    async with db.read() as conn:
        stored = await chunk_store.stored_hashes(conn, src.slug)
    todo = [c for c in chunks if stored.get(c.chunk_id) != prepared.hashes[c.chunk_id]]
    await _embed(embedder, prepared, todo, progress)
    return prepared


async def write(
    conn: asyncpg.Connection, course_id: uuid.UUID, prepared: PreparedChunks,
    embedder: Embedder | None,
) -> ChunkReport:
    topic_ids = {
        r["key"]: r["id"]
        for r in await conn.fetch(
            "SELECT key, id FROM topics WHERE course_id = $1 AND archived_at IS NULL", course_id
        )
    }
    if embedder is not None:
        stored = await chunk_store.stored_hashes(conn, prepared.slug)
        stale = [c for c in prepared.chunks
                 if c.chunk_id not in prepared.vectors
                 and stored.get(c.chunk_id) != prepared.hashes[c.chunk_id]]
        if stale:
            raise StaleChunks(stale)
    rows = [
        ChunkRow(c.chunk_id, topic_ids[c.topic_key], c.module_no, c.ordinal, c.heading,
                 c.content, prepared.hashes[c.chunk_id], c.token_count,
                 prepared.vectors.get(c.chunk_id), c.language)
        for c in prepared.chunks
    ]
    written, removed = await chunk_store.sync_course_chunks(conn, course_id, rows)
    total, with_vectors = await chunk_store.count(conn, course_id)
    return ChunkReport(total, prepared.embedded, written, removed, total - with_vectors)
