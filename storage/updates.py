"""Update de-duplication: Telegram redelivers updates after timeouts and restarts."""

from __future__ import annotations

import asyncpg


async def first_time(conn: asyncpg.Connection, bot_id: int, update_id: int) -> bool:
    """True the first time (bot, update) is seen; the primary key decides, atomically."""
    inserted = await conn.fetchval(
        """
        INSERT INTO processed_updates (bot_id, update_id) VALUES ($1, $2)
        ON CONFLICT DO NOTHING RETURNING true
        """,
        bot_id, update_id,
    )
    return bool(inserted)


async def forget_older_than(conn: asyncpg.Connection, hours: int = 48) -> int:
    result = await conn.execute(
        "DELETE FROM processed_updates WHERE processed_at < now() - make_interval(hours => $1)",
        hours,
    )
    return int(result.split()[-1])


async def seen(conn: asyncpg.Connection, bot_id: int, update_id: int) -> bool:
    return await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM processed_updates WHERE bot_id = $1 AND update_id = $2)",
        bot_id, update_id,
    )
