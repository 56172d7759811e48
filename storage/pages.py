"""Editable texts (`page_content`): help, about, welcome. Admins edit them from the bot."""

from __future__ import annotations

import uuid

import asyncpg

from storage.reads import Reader


async def get(conn: Reader, slug: str) -> str | None:
    return await conn.fetchval("SELECT body FROM page_content WHERE slug = $1", slug)


async def put(
    conn: asyncpg.Connection, slug: str, body: str, updated_by: uuid.UUID | None = None
) -> None:
    await conn.execute(
        """
        INSERT INTO page_content (slug, body, updated_by) VALUES ($1, $2, $3)
        ON CONFLICT (slug) DO UPDATE SET body = EXCLUDED.body, updated_by = EXCLUDED.updated_by
        """,
        slug, body, updated_by,
    )
