"""asyncpg pool with the pgvector codec, and the transaction helper every caller uses."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from pgvector.asyncpg import register_vector

Connection = asyncpg.Connection
Pool = asyncpg.Pool


class DatabaseUnavailable(RuntimeError):
    """The server cannot be reached or refused us; the message is one line for the operator."""


_KV_PASSWORD = re.compile(r"(?i)\b(password|passwd|pwd)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")
_URL_PASSWORD = re.compile(r"(?i)([?&](?:password|passwd|pwd|sslpassword)=)[^&#]*")
# Greedy to the last "@": an unencoded "@" or "/" in a password must not leak its tail (if a
# query holds an "@" too, more is hidden than needed, which is the safe side).
_URL_USERINFO = re.compile(r"^([a-z][a-z0-9+.-]*://[^:/@?#]*):.*@", re.IGNORECASE)


def redact_dsn(dsn: str) -> str:
    """The DSN with every password replaced by ***, in any form libpq accepts: userinfo
    (`postgresql://u:pw@h`), query (`?password=pw`) and key=value strings (`password='pw'`)."""
    if "://" in dsn:
        dsn = _URL_USERINFO.sub(r"\1:***@", dsn)
        return _URL_PASSWORD.sub(r"\1***", dsn)
    return _KV_PASSWORD.sub(r"\1=***", dsn)


def json_value(value: Any) -> Any:
    """A json column's value: decoded by the codec of our pool and `connect`; a bare asyncpg
    connection (a test's, a script's) hands over the text."""
    return json.loads(value) if isinstance(value, str) else value


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    vector_ready = await conn.fetchval("SELECT to_regtype('vector') IS NOT NULL")
    if vector_ready:
        await register_vector(conn)


async def _reset_connection(conn: asyncpg.Connection) -> None:
    """What a released connection needs before its next use, without a round trip.

    asyncpg always rolls back an open transaction and drops listeners before calling this;
    its default reset would then also run `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL` — one more round trip per unit of work. Learnbot leaves no session state on a
    pooled connection: settings are `SET LOCAL`, cursors live in transactions, nothing
    LISTENs, and the one advisory lock (migrations, on their own connection) is released in a
    `finally`."""


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
                reset=_reset_connection,
                command_timeout=60,
            ),
            timeout=connect_timeout,
        )
    except (TimeoutError, OSError, asyncpg.PostgresError, ValueError) as exc:
        reason = str(exc) or type(exc).__name__
        raise DatabaseUnavailable(
            f"cannot connect to PostgreSQL at {redact_dsn(url)}: {reason}"
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
            f"cannot connect to PostgreSQL at {redact_dsn(url)}: {reason}"
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


class NotInTransaction(RuntimeError):
    """A storage function of several statements was called on an autocommit connection."""


def require_tx(conn: asyncpg.Connection) -> None:
    """Raise unless `conn` is inside a transaction.

    Storage functions never choose the transaction: the use case opens it, in one visible
    place (`async with db.tx() as conn:`). Those whose statements must commit or fail
    together call this first, so a caller that forgot the unit of work fails loudly instead
    of committing half a change statement by statement."""
    if not conn.is_in_transaction():
        caller = sys._getframe(1)
        where = f"{caller.f_globals.get('__name__', '?')}.{caller.f_code.co_name}"
        raise NotInTransaction(
            f"{where} must be called inside a transaction (async with db.tx() as conn:)")


def record_to_dict(record: Any) -> dict[str, Any]:
    return dict(record) if record is not None else {}
