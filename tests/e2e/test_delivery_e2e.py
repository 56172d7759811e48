"""Daily delivery with real `learnbot deliver` processes against the local Bot API emulator.
Every count comes from what the emulator received, not from our own tables."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from tests.e2e.helpers import learnbot_env
from tests.helpers import daytime_zone, import_path, seed_learners, tiny_course
from tests.support.botapi import BotAPIEmulator

BASE = 8_000_000


def _received(emu: BotAPIEmulator) -> Counter:
    return Counter(c.params["chat_id"] for c in emu.calls("sendMessage") if c.ok)


async def test_four_workers_deliver_exactly_one_each(
    emu: BotAPIEmulator, spawn, db_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    report = await import_path(pool, tiny_course(tmp_path / "c"))
    now = datetime.now(UTC)
    await seed_learners(pool, report.course_id, 2000, base=BASE,
                        due=now - timedelta(minutes=1), timezone=daytime_zone(now))
    env = learnbot_env(db_url, emu.url, tmp_path, delivery_rate_per_second="1000",
                       delivery_batch_size="100")
    workers = [await spawn(["deliver", "--once"], env) for _ in range(4)]
    codes = await asyncio.gather(*(w.wait(timeout=240) for w in workers))
    assert codes == [0, 0, 0, 0], [w.lines[-5:] for w in workers]
    received = _received(emu)
    assert len(received) == 2000 and set(received.values()) == {1}
    assert set(received) == {BASE + g for g in range(1, 2001)}
    # the work was shared: every worker sent some
    outputs = [await w.stdout() for w in workers]
    sent = [int(o.split("sent=")[1].split()[0]) for o in outputs]
    assert sum(sent) == 2000 and all(s > 0 for s in sent), outputs


async def test_killed_worker_loses_nothing(
    emu: BotAPIEmulator, spawn, db_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    report = await import_path(pool, tiny_course(tmp_path / "c"))
    now = datetime.now(UTC)
    await seed_learners(pool, report.course_id, 300, base=BASE,
                        due=now - timedelta(minutes=1), timezone=daytime_zone(now))
    env = learnbot_env(db_url, emu.url, tmp_path, delivery_rate_per_second="40",
                       delivery_batch_size="200", delivery_concurrency="2",
                       delivery_visibility_timeout_seconds="5")
    victim = await spawn(["deliver"], env)
    await emu.wait_for_count(60, timeout=120)
    victim.kill()  # SIGKILL mid-batch: claimed rows are left behind, unsent
    await victim.wait()
    before = sum(_received(emu).values())
    assert before < 300
    async with pool.acquire() as conn:
        stranded = await conn.fetchval(
            "SELECT count(*) FROM journey_deliveries WHERE status = 'claimed'")
    assert stranded > 0
    await asyncio.sleep(5.5)  # the visibility timeout
    rescuer = await spawn(["deliver", "--once"], {**env, "DELIVERY_RATE_PER_SECOND": "500",
                                                   "DELIVERY_CONCURRENCY": "16"})
    assert await rescuer.wait(timeout=120) == 0
    received = _received(emu)
    assert set(received) == {BASE + g for g in range(1, 301)}  # nothing lost
    duplicates = sum(n - 1 for n in received.values())
    # At-least-once across the HTTP boundary: only a request in flight at the moment of the
    # kill (at most DELIVERY_CONCURRENCY of them) can be repeated.
    assert duplicates <= 2, received.most_common(3)
    async with pool.acquire() as conn:
        assert await conn.fetchval(
            "SELECT count(*) FROM journey_deliveries WHERE status = 'sent'") == 300
