"""Input PostgreSQL or Telegram would choke on is refused up front with a clear reply, and
nothing is changed: time zones only Python knows, oversized or hostile course archives."""

from __future__ import annotations

import asyncpg
import pytest

from tests.bot.conftest import Harness
from tests.helpers import DEMO, import_path

ADA = 9301


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "posix/Europe/Berlin",
                                  "right/UTC", "UTC+3", "../../etc/passwd"])
async def test_zones_postgres_rejects_are_refused(harness: Harness, zone: str) -> None:
    await import_path(harness.pool, DEMO)
    await harness.say(ADA, "/start enroll_sql-basics")
    await harness.say(ADA, f"/timezone {zone}")
    assert "isn't a time zone" in harness.texts_to(ADA)[-1]
    async with harness.pool.acquire() as conn:
        assert await conn.fetchval(
            "SELECT timezone FROM users WHERE telegram_id = $1", ADA) == "UTC"
    await harness.say(ADA, "/today")  # and the learner's day still works
    assert "Done" in str(harness.emu.messages_to(ADA)[-1].reply_markup)


async def test_a_real_zone_is_taken_in_its_canonical_spelling(harness: Harness) -> None:
    await harness.say(ADA, "/timezone europe/berlin")
    assert "Time zone set to Europe/Berlin" in harness.texts_to(ADA)[-1]


async def test_the_database_itself_refuses_unknown_zones(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO users (telegram_id, timezone) VALUES (930199, 'posixrules')")
