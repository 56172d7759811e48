"""Course import orchestration, shared by `learnbot import-course` and the admin's /import."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from content.course_format import CourseSource
from rag import ingest
from rag.embedding import Embedder
from storage import courses
from storage.courses import ImportReport
from storage.uow import Database, Transactor

# An import's transaction waits longer for a connection than a learner's would: it is rare,
# and its admin is watching a progress message rather than an idle chat.
IMPORT_ACQUIRE_TIMEOUT = 60.0


async def import_source(
    db: Transactor | asyncpg.Pool, src: CourseSource, *, embedder: Embedder | None = None,
    progress: ingest.Progress | None = None, now: datetime | None = None,
) -> ImportReport:
    """Rows and RAG passages in one transaction: a failure leaves the previous version untouched.

    New or changed passages are embedded first, outside the transaction (and again outside it
    if a concurrent import changed some meanwhile). Without an `embedder` passages are stored
    for full-text search only and embedded by the next import that has one (the CLI and the
    bot always pass one; tests that don't need vectors don't)."""
    if isinstance(db, asyncpg.Pool):
        db = Database(db, acquire_timeout=IMPORT_ACQUIRE_TIMEOUT)
    prepared = await ingest.prepare(db, src, embedder, progress)
    for attempt in range(3):
        try:
            async with db.tx() as conn:
                report = await courses.import_course(conn, src, now=now)
                chunk_report = await ingest.write(conn, report.course_id, prepared, embedder)
            break
        except ingest.StaleChunks as stale:
            if attempt == 2 or embedder is None:
                raise
            await ingest.embed_more(embedder, prepared, stale)
    report.chunks = chunk_report.chunks
    report.chunks_embedded = chunk_report.embedded
    report.chunks_removed = chunk_report.removed
    return report
