"""Delivery benchmarks: claim rate at 100k / 1M due course-users, achieved vs configured send
rate of one in-process worker, and of several `learnbot deliver` processes sharing one budget
through Redis, against the local Bot API emulator. Prints figures; asserts nothing.

    .venv/bin/python bench/delivery.py [--sizes 100000 1000000] [--workers 4]
        [--rates 25 100 500 1000] [--processes 1 2 4] [--process-rate 1000]
        [--shared-buffers 1GB]

The bench's own embedded server runs with `--shared-buffers` (default 1GB, `''` for
PostgreSQL's 128MB default): at 1M learners the claim's working set (course_users, users and
their indexes, ~600 MB) is several times 128MB, and every claimed row's index inserts then
evict and re-read pages.

The multi-process figures need a Redis: REDIS_URL, else 127.0.0.1:6379, else a
`redis-server` the bench starts itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import make_bot  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.workers.delivery import DeliveryWorker  # noqa: E402
from bot.workers.sender import RateLimitedSender  # noqa: E402
from content.course_format import load_course  # noqa: E402
from storage import deliveries, embedded, migrate, pg  # noqa: E402
from storage.courses import import_course  # noqa: E402
from tests.support.botapi import BotAPIEmulator  # noqa: E402

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


async def fresh_db(admin_url: str, name: str) -> str:
    conn = await pg.connect(admin_url)
    await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await conn.execute(f"CREATE DATABASE {name}")
    await conn.close()
    base, _, query = admin_url.partition("?")
    url = base.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")
    conn = await pg.connect(url)
    await migrate.migrate(conn)
    await conn.close()
    return url


async def seed(pool, n: int, due: datetime = NOW - timedelta(minutes=1),
               zones: list[str] | None = None) -> None:
    async with pool.acquire() as conn:
        course_id = await import_course(conn, load_course(ROOT / "courses" / "sql-basics"))
        course_id = course_id.course_id
        step = 100_000
        for start in range(0, n, step):
            count = min(step, n - start)
            await conn.execute(
                """
                WITH u AS (INSERT INTO users (telegram_id, timezone)
                           SELECT 10000000 + g, ($5::text[])[1 + g % cardinality($5::text[])]
                           FROM generate_series($2::int, $2 + $3 - 1) g RETURNING id),
                     cu AS (INSERT INTO course_users (user_id, course_id) SELECT id, $1 FROM u
                            RETURNING id)
                INSERT INTO course_user_schedule (course_user_id, next_due_at)
                SELECT id, $4 FROM cu
                """,
                course_id, start, count, due,
                zones or ["UTC", "Europe/Berlin", "Asia/Tokyo", "America/Chicago"],
            )
        await conn.execute("ANALYZE")


async def claim_bench(admin_url: str, n: int, workers: int, batch: int) -> None:
    url = await fresh_db(admin_url, f"bench_claim_{n}")
    pool = await pg.create_pool(url, max_size=workers + 2)
    t0 = time.perf_counter()
    await seed(pool, n)
    seeded = time.perf_counter() - t0

    async def worker(i: int) -> int:
        total = 0
        async with pool.acquire() as conn:
            while True:
                async with conn.transaction():
                    ids = await deliveries.claim_due(conn, now=NOW, limit=batch,
                                                   worker=f"w{i}", visibility_seconds=300)
                if not ids:
                    return total
                total += len(ids)

    t0 = time.perf_counter()
    counts = await asyncio.gather(*(worker(i) for i in range(workers)))
    elapsed = time.perf_counter() - t0
    await pool.close()
    print(f"claim  n={n:>9,}  workers={workers} batch={batch}: {sum(counts):,} claimed in "
          f"{elapsed:6.1f} s = {sum(counts) / elapsed:9,.0f} course-users/s "
          f"(seeding took {seeded:.0f} s)")


async def send_bench(admin_url: str, rates: list[float], messages: int) -> None:
    for rate in rates:
        url = await fresh_db(admin_url, "bench_send")
        pool = await pg.create_pool(url, max_size=6)
        n = min(messages, int(rate * 10))
        await seed(pool, n)
        async with BotAPIEmulator() as emu:
            settings = load_settings(bot_token="1:bench", telegram_api_url=emu.url,
                                     delivery_rate_per_second=rate)
            bot = make_bot(settings)
            worker = DeliveryWorker(pool, bot, RateLimitedSender(rate_per_second=rate), settings,
                                    clock=lambda: NOW)
            t0 = time.perf_counter()
            report = await worker.run_once()
            elapsed = time.perf_counter() - t0
            await bot.session.close()
        await pool.close()
        print(f"send   configured {rate:6.0f} msg/s: {report.sent:,} sent in {elapsed:5.1f} s "
              f"= {report.sent / elapsed:6.1f} msg/s achieved")


async def processes_bench(admin_url: str, counts: list[int], rate: float, messages: int,
                          redis_url: str) -> None:
    """`learnbot deliver --once` processes, one budget of `rate` shared through Redis: what
    they achieve together, from the emulator's request times."""
    from tests.helpers import daytime_zone, max_in_one_second

    for count in counts:
        url = await fresh_db(admin_url, "bench_procs")
        pool = await pg.create_pool(url, max_size=4)
        # The processes run on the real clock: learners in a zone where it is day now, or
        # quiet hours would hold every card back (nothing sent when UTC is at night).
        now = datetime.now(UTC)
        await seed(pool, messages, due=now - timedelta(minutes=1), zones=[daytime_zone(now)])
        await pool.close()
        async with BotAPIEmulator() as emu:
            env = {**os.environ, "BOT_TOKEN": "123456:bench", "TELEGRAM_API_URL": emu.url,
                   "DATABASE_URL": url, "REDIS_URL": redis_url, "HF_HUB_OFFLINE": "1",
                   "REDIS_KEY_PREFIX": "bench-" + uuid.uuid4().hex[:8], "LOG_LEVEL": "WARNING",
                   "DELIVERY_RATE_PER_SECOND": str(rate), "PYTHONPATH": str(ROOT)}
            procs = [await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "deliver", "--once", cwd=ROOT, env=env,
                stdout=asyncio.subprocess.DEVNULL) for _ in range(count)]
            await asyncio.gather(*(p.wait() for p in procs))
            times = sorted(c.at for c in emu.calls("sendMessage") if c.ok)
        span = times[-1] - times[0] if len(times) > 1 else float("nan")
        print(f"send   {count} processes, one budget of {rate:.0f} msg/s: {len(times):,} sent "
              f"in {span:5.1f} s = {len(times) / span:6.1f} msg/s achieved "
              f"(busiest second: {max_in_one_second(times)})")


@contextlib.contextmanager
def a_redis():
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    from tests.support.redis_server import some_redis

    with some_redis() as url:
        yield url


def size_shared_buffers(server, size: str) -> None:
    """Restart the bench's own (just created, unshared) server with `size` of shared buffers."""
    from pgserver._commands import pg_ctl

    server.psql(f"ALTER SYSTEM SET shared_buffers = '{size}';")
    pg_ctl(["-w", "restart"], pgdata=server.pgdata, user=server.system_user)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rates", type=float, nargs="*", default=[25, 100, 500, 1000])
    parser.add_argument("--processes", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--process-rate", type=float, default=1000)
    parser.add_argument("--process-messages", type=int, default=10_000)
    parser.add_argument("--shared-buffers", default="1GB")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="learnbot-bench-") as tmp:
        server = embedded.start_embedded(Path(tmp))
        if args.shared_buffers:
            size_shared_buffers(server, args.shared_buffers)
        admin_url = server.get_uri("postgres")
        print(f"embedded PostgreSQL, shared_buffers = "
              f"{server.psql('SHOW shared_buffers;').split()[2]}")
        for n in args.sizes:
            await claim_bench(admin_url, n, args.workers, args.batch)
        await send_bench(admin_url, args.rates, 5000)
        if args.processes:
            with a_redis() as redis_url:
                await processes_bench(admin_url, args.processes, args.process_rate,
                                      args.process_messages, redis_url)
        server.cleanup()  # stopped before its directory goes (else rmtree races the shutdown)


if __name__ == "__main__":
    asyncio.run(main())
