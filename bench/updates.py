"""Updates per second: learnbot's real Dispatcher (middlewares, routers, PostgreSQL) against
bare aiogram with one trivial handler, both on a Bot session that answers every API call at
once, in the same run. Prints upd/s and the ratio for a mix of learner commands and for each
command alone, with the CPU each update cost the bot's process and the PostgreSQL server
(both share the machine's cores); asserts nothing.

    .venv/bin/python bench/updates.py [--learners 500] [--updates 3000] [--in-flight 50]
                                      [--rounds 4] [--only mix /today ...]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiogram import Bot, Dispatcher, Router  # noqa: E402
from aiogram.client.default import DefaultBotProperties  # noqa: E402
from aiogram.client.session.base import BaseSession  # noqa: E402
from aiogram.enums import ParseMode  # noqa: E402
from aiogram.methods import TelegramMethod  # noqa: E402
from aiogram.types import Chat, Message, Update, User  # noqa: E402

from bench.delivery import fresh_db  # noqa: E402
from bot.app import build_dispatcher  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.runtime import tune_gc  # noqa: E402
from content.course_format import load_course  # noqa: E402
from storage import embedded, pg  # noqa: E402
from storage.courses import import_course  # noqa: E402

TOKEN = "42:bench"
COMMANDS = ["/progress", "/today", "/badges", "/help"]
BASE_ID = 50_000_000


class NullSession(BaseSession):
    """Answers every Bot API call at once with a plausible result: sent messages come back as
    messages, everything else as True. Nothing leaves the process."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self._ids = itertools.count(1)

    async def make_request(self, bot: Bot, method: TelegramMethod[Any],
                           timeout: int | None = None) -> Any:  # noqa: ASYNC109
        self.calls += 1
        returning = getattr(method, "__returning__", None)
        if returning is Message or "Message" in str(returning):
            chat_id = getattr(method, "chat_id", None) or 1
            return Message(message_id=next(self._ids), date=datetime.now(UTC),
                           chat=Chat(id=int(chat_id), type="private"),
                           text=getattr(method, "text", None) or "")
        if returning is User:
            return User(id=42, is_bot=True, first_name="bench", username="bench_bot")
        if "list" in str(returning):
            return []
        return True

    async def stream_content(self, url: str, headers: dict[str, Any] | None = None,
                             timeout: int = 30, chunk_size: int = 65536,  # noqa: ASYNC109
                             raise_for_status: bool = True) -> AsyncGenerator[bytes, None]:
        yield b""

    async def close(self) -> None:
        return None


def message_update(update_id: int, user_id: int, text: str) -> Update:
    return Update.model_validate({
        "update_id": update_id,
        "message": {
            "message_id": update_id, "date": 1767000000, "text": text,
            "chat": {"id": user_id, "type": "private", "first_name": "L"},
            "from": {"id": user_id, "is_bot": False, "first_name": "L"},
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
        },
    })


class Cpu:
    """CPU seconds spent so far by this process and by the PostgreSQL server's processes
    (the postmaster and its children, read from /proc): on a small machine both share the
    cores, so the server's work counts against the bot's throughput."""

    def __init__(self, pgdata: Path) -> None:
        self.postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
        self.tick = os.sysconf("SC_CLK_TCK")

    def server(self) -> float:
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # the process ended meanwhile
                continue
            pid = int(stat.parent.name)
            if pid == self.postmaster or int(fields[1]) == self.postmaster:
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / self.tick

    def now(self) -> tuple[float, float]:
        return time.process_time(), self.server()


async def drive(dp: Dispatcher, bot: Bot, updates: list[Update], in_flight: int,
                cpu: Cpu | None = None) -> tuple[float, float, float]:
    """Updates per second, and the bot's and the server's CPU µs per update."""
    gate = asyncio.Semaphore(in_flight)

    async def one(update: Update) -> None:
        async with gate:
            await dp.feed_update(bot, update)

    before = cpu.now() if cpu else (0.0, 0.0)
    t0 = time.perf_counter()
    await asyncio.gather(*(one(u) for u in updates))
    rate = len(updates) / (time.perf_counter() - t0)
    after = cpu.now() if cpu else (0.0, 0.0)
    per = [(b - a) / len(updates) * 1e6 for a, b in zip(before, after, strict=True)]
    return rate, per[0], per[1]


def bare_dispatcher() -> Dispatcher:
    router = Router()

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer("ok")

    dp = Dispatcher()
    dp.include_router(router)
    return dp


class Ids:
    def __init__(self) -> None:
        self.next = 1

    def __call__(self) -> int:
        self.next += 1
        return self.next


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="learnbot-bench-") as tmp:
        server = embedded.start_embedded(Path(tmp))
        cpu = Cpu(Path(tmp) / "pgdata")
        url = await fresh_db(server.get_uri("postgres"), "bench_updates")
        pool = await pg.create_pool(url, max_size=10)
        async with pool.acquire() as conn:
            await import_course(conn, load_course(ROOT / "courses" / "sql-basics"))
        settings = load_settings(bot_token=TOKEN, flood_messages_per_minute=600,
                                 database_url=url, llm_base_url=None, llm_model=None)
        session = NullSession()
        bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
        dp = build_dispatcher(settings, pool)
        ids = Ids()
        learners = [BASE_ID + i for i in range(args.learners)]
        await drive(dp, bot, [message_update(ids(), uid, "/start enroll_sql-basics")
                              for uid in learners], args.in_flight)
        async with pool.acquire() as conn:
            # As autovacuum has long done on a running bot's database: without statistics the
            # tables look empty, and plans read every learner's rows to find one learner's.
            await conn.execute("ANALYZE")
        rng = random.Random(7)

        def batch(commands: list[str]) -> list[Update]:
            return [message_update(ids(), rng.choice(learners), rng.choice(commands))
                    for _ in range(args.updates)]

        bare = bare_dispatcher()
        print(f"{args.learners} enrolled learners, {args.updates} updates per row in "
              f"{args.rounds} rounds, {args.in_flight} in flight, embedded PostgreSQL, "
              "null Bot session; medians of the rounds")
        print("CPU µs per update: learnbot's process (bot) and the PostgreSQL server's (pg); "
              "learnbot's Bot API calls per update (bare aiogram makes one)")
        print(f"{'workload':<12}{'learnbot upd/s':>16}{'bare upd/s':>12}{'ratio':>8}"
              f"{'bot µs':>9}{'pg µs':>8}{'bare µs':>9}{'calls/upd':>10}")
        for name, commands in [("mix", COMMANDS), *[(c, [c]) for c in COMMANDS]]:
            if args.only and name not in args.only:
                continue
            await drive(dp, bot, batch(commands)[: args.updates // 10], args.in_flight)  # warm
            # The two alternate in short rounds and each figure is the median of its rounds:
            # on a shared machine the speed of the cores moves from one second to the next.
            rounds = []
            for _ in range(args.rounds):
                ours = await drive(dp, bot, batch(commands)[: args.updates // args.rounds],
                                   args.in_flight, cpu)
                theirs = await drive(bare, bot, batch(commands)[: args.updates // args.rounds],
                                     args.in_flight, cpu)
                rounds.append((ours[0], theirs[0], ours[0] / theirs[0], ours[1], ours[2],
                               theirs[1]))
            ours_s, theirs_s, ratio, bot_us, pg_us, bare_us = (
                statistics.median(column) for column in zip(*rounds, strict=True))
            calls = session.calls
            await drive(dp, bot, batch(commands)[:100], args.in_flight)
            print(f"{name:<12}{ours_s:>16.0f}{theirs_s:>12.0f}{ratio:>8.2f}"
                  f"{bot_us:>9.0f}{pg_us:>8.0f}{bare_us:>9.0f}"
                  f"{(session.calls - calls) / 100:>10.2f}")
        await dp["broadcaster"].close()
        await pool.close()
        del server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=500)
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--in-flight", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4,
                        help="alternations of learnbot and bare per row (medians printed)")
    parser.add_argument("--only", nargs="*", metavar="WORKLOAD",
                        help="run only these rows (mix, /progress, /today, /badges, /help)")
    args = parser.parse_args()
    tune_gc()  # as the bot's own processes do; bare aiogram runs in this process too
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
