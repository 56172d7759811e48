"""Small row builders for tests (plain SQL, so tests read like the schema they exercise)."""

from __future__ import annotations

import itertools
import uuid

import asyncpg

_ids = itertools.count(1_000_000)


async def user(conn: asyncpg.Connection, **kw) -> uuid.UUID:
    tid = kw.pop("telegram_id", next(_ids))
    cols = {"telegram_id": tid, "display_name": kw.pop("display_name", f"User {tid}"), **kw}
    names = ", ".join(cols)
    params = ", ".join(f"${i}" for i in range(1, len(cols) + 1))
    return await conn.fetchval(
        f"INSERT INTO users ({names}) VALUES ({params}) RETURNING id", *cols.values()
    )


async def course(conn: asyncpg.Connection, slug: str | None = None, **kw) -> uuid.UUID:
    slug = slug or f"c{next(_ids)}"
    return await conn.fetchval(
        "INSERT INTO courses (slug, title, prompt_quota) VALUES ($1, $2, $3) RETURNING id",
        slug,
        kw.get("title", slug.title()),
        kw.get("prompt_quota", 10),
    )


async def topic(
    conn: asyncpg.Connection, course_id: uuid.UUID, module_no: int = 1, number: int = 1, **kw
) -> uuid.UUID:
    return await conn.fetchval(
        "INSERT INTO topics (course_id, key, module_no, topic_number, title, text_content) "
        "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        course_id,
        kw.get("key", f"m{module_no}-t{number}"),
        module_no,
        number,
        kw.get("title", f"Topic {module_no}.{number}"),
        kw.get("text", "Body"),
    )
