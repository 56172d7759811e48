"""Many processes, one bot (issue 14): `learnbot deliver` processes sharing one Telegram budget
through a real Redis, and two `learnbot run` webhook processes fed the same updates. Every
figure comes from what the Bot API emulator received and when."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from tests.e2e.helpers import learnbot_env
from tests.helpers import import_path, max_in_one_second, seed_learners, tiny_course
from tests.support.botapi import BotAPIEmulator

BASE = 8_500_000
LEARNERS = 2_400
RATE = 100
PAUSE = 2  # the retry_after of the one 429


async def test_four_deliver_processes_keep_one_budget_and_one_429_pause(
    emu: BotAPIEmulator, spawn, db_url: str, pool: asyncpg.Pool, tmp_path: Path,
    redis_url: str, redis_prefix: str,
) -> None:
    report = await import_path(pool, tiny_course(tmp_path / "c"))
    now = datetime.now(UTC)
    await seed_learners(pool, report.course_id, LEARNERS, base=BASE,
                        due=now - timedelta(minutes=1))
    env = learnbot_env(db_url, emu.url, tmp_path, redis_url=redis_url,
                       redis_key_prefix=redis_prefix, delivery_rate_per_second=str(RATE))
    workers = [await spawn(["deliver", "--once"], env) for _ in range(4)]
    # a third of the way in, Telegram tells one of them (whichever asks next) to wait
    await emu.wait_for_count(LEARNERS // 3, timeout=120)
    emu.rate_limit(1, retry_after=PAUSE)
    codes = await asyncio.gather(*(w.wait(timeout=240) for w in workers))
    assert codes == [0, 0, 0, 0], [w.lines[-5:] for w in workers]

    calls = emu.calls("sendMessage")
    times = sorted(c.at for c in calls)
    import json  # DEBUG
    Path("/tmp/scale_dbg.json").write_text(json.dumps({"calls": [(c.at, c.status, c.params["chat_id"]) for c in calls], "lines": [w.lines for w in workers]}))
    received = Counter(c.params["chat_id"] for c in calls if c.ok)
    assert set(received) == {BASE + g for g in range(1, LEARNERS + 1)}
    assert set(received.values()) == {1}  # each learner exactly one card
    # the budget is one: no second holds more than RATE requests, from all four together
    assert max_in_one_second(times) <= RATE
    # ... and it is used: the average, leaving out the pause, stays within 5% of it
    average = (len(times) - 1) / (times[-1] - times[0] - PAUSE)
    assert average >= 0.95 * RATE, f"{average:.1f} msg/s"
    # one 429 paused all four: nothing left any of them during its retry_after (requests
    # already on their way when it was answered arrive in the first few milliseconds)
    (refused,) = [c for c in calls if c.status == 429]
    during = [t for t in times if refused.at + 0.1 < t < refused.at + PAUSE]
    assert during == [], f"{len(during)} requests during the pause"
    outputs = [await w.stdout() for w in workers]
    sent = [int(o.split("sent=")[1].split()[0]) for o in outputs]
    assert sum(sent) == LEARNERS and all(s > 0 for s in sent), outputs
