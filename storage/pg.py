"""asyncpg pool with the pgvector codec, and the transaction helper every caller uses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from pgvector.asyncpg import register_vector

Connection = asyncpg.Connection
Pool = asyncpg.Pool


class DatabaseUnavailable(RuntimeError):
    """The server cannot be reached or refused us; the message is one line for the operator."""


def _redact(url: str) -> str:
    # Never print a password in an error line.
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    vector_ready = await conn.fetchval("SELECT to_regtype('vector') IS NOT NULL")
    if vector_ready:
        await register_vector(conn)


async def create_pool(
    url: str, *, min_size: int = 1, max_size: int = 10, connect_timeout: float = 10.0
) -> asyncpg.Pool:
    """Open a pool; the `vector` type is registered when the extension exists (after migrate)."""
    try:
        pool = await asyncio.wait_for(
            asyncpg.create_pool(
                url,
                min_size=min_size,
                max_size=max_size,
                init=_init_connection,
                command_timeout=60,
            ),
            timeout=connect_timeout,
        )
    except (TimeoutError, OSError, asyncpg.PostgresError, ValueError) as exc:
        reason = str(exc) or type(exc).__name__
        raise DatabaseUnavailable(
            f"cannot connect to PostgreSQL at {_redact(url)}: {reason}"
        ) from None
    assert pool is not None
    return pool


async def connect(url: str, *, connect_timeout: float = 10.0) -> asyncpg.Connection:
    """One connection (for migrations and scripts), with the same codecs as the pool."""
    try:
        conn = await asyncpg.connect(url, timeout=connect_timeout)
    except (TimeoutError, OSError, asyncpg.PostgresError, ValueError) as exc:
        reason = str(exc) or type(exc).__name__
        raise DatabaseUnavailable(
            f"cannot connect to PostgreSQL at {_redact(url)}: {reason}"
        ) from None
    await _init_connection(conn)
    return conn


@asynccontextmanager
async def transaction(
    pool_or_conn: asyncpg.Pool | asyncpg.Connection, *, isolation: str = "read_committed"
) -> AsyncIterator[asyncpg.Connection]:
    """`async with transaction(pool) as conn:` — commit on success, roll back on error."""
    if isinstance(pool_or_conn, asyncpg.Pool):
        async with pool_or_conn.acquire() as conn, conn.transaction(isolation=isolation):
            yield conn
    else:
        async with pool_or_conn.transaction(isolation=isolation):
            yield pool_or_conn


def record_to_dict(record: Any) -> dict[str, Any]:
    return dict(record) if record is not None else {}
