"""Course import orchestration, shared by `learnbot import-course` and the admin's /import."""

from __future__ import annotations

import asyncpg

from storage import courses
from storage.course_files import CourseSource
from storage.courses import ImportReport
from storage.db import transaction


async def import_source(pool: asyncpg.Pool, src: CourseSource) -> ImportReport:
    """Everything in one transaction: a failure leaves the previous version untouched."""
    async with transaction(pool) as conn:
        return await courses.import_course(conn, src)
