"""A fresh embedded PostgreSQL database for one bench run."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg

from storage import embedded, migrate, pg


@contextlib.asynccontextmanager
async def migrated_database(prefix: str, name: str, *, max_size: int = 2
                            ) -> AsyncIterator[asyncpg.Pool]:
    """A new embedded server in a temporary directory (`prefix`), database `name` migrated,
    and a pool on it; all gone when the block ends."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        server = embedded.start_embedded(Path(tmp))
        url = embedded.embedded_database_url(server, name)
        conn = await pg.connect(url)
        await migrate.migrate(conn)
        await conn.close()
        pool = await pg.create_pool(url, max_size=max_size)
        try:
            yield pool
        finally:
            await pool.close()
            del server
