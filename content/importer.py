"""Course import orchestration, shared by `learnbot import-course` and the admin's /import."""

from __future__ import annotations

import asyncpg

from content.course_format import CourseSource
from rag import ingest
from rag.embedding import Embedder
from storage import courses
from storage.courses import ImportReport
from storage.pg import transaction


async def import_source(
    pool: asyncpg.Pool, src: CourseSource, *, embedder: Embedder | None = None,
    progress: ingest.Progress | None = None,
) -> ImportReport:
    """Rows and RAG passages in one transaction: a failure leaves the previous version untouched.

    New or changed passages are embedded first, outside the transaction. Without an `embedder`
    passages are stored for full-text search only and embedded by the next import that has
    one (the CLI and the bot always pass one; tests that don't need vectors don't)."""
    prepared = await ingest.prepare(pool, src, embedder, progress)
    async with transaction(pool) as conn:
        report = await courses.import_course(conn, src)
        chunk_report = await ingest.write(conn, report.course_id, prepared, embedder)
    report.chunks = chunk_report.chunks
    report.chunks_embedded = chunk_report.embedded
    report.chunks_removed = chunk_report.removed
    return report
