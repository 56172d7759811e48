"""Typed-prompt quota: one atomic statement, exact under concurrency."""

from __future__ import annotations

import asyncio

import asyncpg

from storage import quota
from tests import factories as f


async def test_concurrent_spends_stop_exactly_at_the_quota(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        course = await f.course(conn, prompt_quota=5)
        user = await f.user(conn)

    async def spend() -> bool:
        async with pool.acquire() as conn:
            return (await quota.spend(conn, user, course, 1)).spent

    results = await asyncio.gather(*(spend() for _ in range(20)))
    assert results.count(True) == 5 and results.count(False) == 15
    async with pool.acquire() as conn:
        state = await quota.status(conn, user, course, 1)
        assert (state.used, state.left) == (5, 0)
        assert (await quota.status(conn, user, course, 2)).left == 5  # per module
        await quota.refund(conn, user, course, 1)
        assert (await quota.spend(conn, user, course, 1)).spent
        assert not (await quota.spend(conn, user, course, 1)).spent


async def test_zero_quota_refuses_and_records_nothing(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        course = await f.course(conn, prompt_quota=0)
        user = await f.user(conn)
        state = await quota.spend(conn, user, course, 1)
        assert not state.spent and state.left == 0
        assert await conn.fetchval("SELECT count(*) FROM module_prompt_usage") == 0
        await quota.refund(conn, user, course, 1)  # never below zero
