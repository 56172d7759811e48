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


async def record_many(conn: asyncpg.Connection, handled: list[tuple[int, int]]) -> None:
    """Record several (bot, update) pairs in one statement (repeats are no-ops): the updates
    that changed nothing, batched by `storage.uow.Records`."""
    await conn.execute(
        """
        INSERT INTO processed_updates (bot_id, update_id)
        SELECT * FROM unnest($1::bigint[], $2::bigint[])
        ON CONFLICT DO NOTHING
        """,
        [bot for bot, _ in handled], [update for _, update in handled],
    )


def first_time_statement(bot_id: int, update_id: int) -> str:
    """`first_time`'s INSERT as text, for a unit of work that sends it in one message with its
    BEGIN (`storage.uow.UpdateWork.tx`: a message with several statements takes no
    parameters). Both ids are ints, formatted as such, so nothing can be injected. Its
    status ends in " 1" the first time, " 0" for an update seen before."""
    return (f"INSERT INTO processed_updates (bot_id, update_id) "
            f"VALUES ({int(bot_id)}, {int(update_id)}) ON CONFLICT DO NOTHING")


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
