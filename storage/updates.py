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


async def forget_older_than(conn: asyncpg.Connection, days: int = 7) -> int:
    result = await conn.execute(
        "DELETE FROM processed_updates WHERE processed_at < now() - make_interval(days => $1)",
        days,
    )
    return int(result.split()[-1])
