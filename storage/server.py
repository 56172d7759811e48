"""Open the system of record: the configured server, or the embedded one, migrated and pooled."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg

from storage import embedded, migrate, pg

log = logging.getLogger(__name__)


def resolve_url(database_url: str | None, data_dir: Path) -> tuple[str, Any]:
    """Return (url, embedded handle or None). Never starts a server when a URL is configured."""
    if database_url:
        return database_url, None
    server = embedded.start_embedded(data_dir)
    return embedded.embedded_database_url(server), server


async def migrate_url(url: str) -> list[str]:
    conn = await pg.connect(url)
    try:
        return await migrate.migrate(conn)
    finally:
        await conn.close()


@asynccontextmanager
async def open_database(
    database_url: str | None, data_dir: Path, *, max_size: int = 10, run_migrations: bool = True
) -> AsyncIterator[asyncpg.Pool]:
    url, server = resolve_url(database_url, data_dir)
    try:
        if run_migrations:
            applied = await migrate_url(url)
            if applied:
                log.info("applied migrations: %s", ", ".join(applied))
        pool = await pg.create_pool(url, max_size=max_size)
        try:
            yield pool
        finally:
            await pool.close()
    finally:
        del server  # the handle's atexit hook stops the embedded server with the last user
