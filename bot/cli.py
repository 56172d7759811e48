"""`learnbot` command line: migrate, run, console, demo, deliver, import-course."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import signal
import sys
from pathlib import Path

from bot import authoring
from bot.config import ConfigError, Settings, load_settings
from bot.runtime import tune_gc
from content.course_format import CourseError, load_course
from storage.embedded import EmbeddedPostgresError
from storage.migrate import MigrationError
from storage.pg import DatabaseUnavailable
from storage.server import migrate_url, open_database, resolve_url

log = logging.getLogger("learnbot")
DEMO_COURSE = Path(__file__).resolve().parent.parent / "courses" / "sql-basics"


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level, stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("aiogram.event", "pgserver", "httpx", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    url, server = resolve_url(settings.database_url, settings.data_dir)
    applied = await migrate_url(url)
    print("applied: " + ", ".join(applied) if applied else "schema is up to date")
    del server
    return 0


async def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from content.importer import import_source

    try:
        src = load_course(Path(args.path))
    except CourseError as exc:
        print(f"course not imported: {len(exc.problems)} problem(s)", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    from rag.embedding import get_embedder

    async with open_database(settings.database_url, settings.data_dir,
                             max_size=settings.database_pool_size) as pool:
        with Progress(transient=True) as progress:
            task = progress.add_task(f"embedding {src.slug}", total=None)

            def embedded(done: int, total: int) -> None:
                progress.update(task, completed=done, total=max(total, 1))

            report = await import_source(pool, src, embedder=get_embedder(
                settings.embedding_model), progress=embedded)
    print(report.summary())
    return 0


async def _ensure_demo_course(pool, settings: Settings) -> None:
    from content.importer import import_source
    from rag.embedding import get_embedder
    from storage import courses

    async with pool.acquire() as conn:
        existing = await conn.fetchrow(
            "SELECT source_hash, (SELECT count(*) FROM course_chunks ch WHERE ch.course_id = c.id"
            " AND ch.embedding IS NULL) AS unembedded FROM courses c WHERE slug = 'sql-basics'"
        )
    src = load_course(DEMO_COURSE)
    if existing is None or existing["source_hash"] != src.source_hash or existing["unembedded"]:
        report = await import_source(pool, src, embedder=get_embedder(settings.embedding_model))
        log.info("demo course: %s", report.summary())
    async with pool.acquire() as conn:
        assert await courses.get_by_slug(conn, "sql-basics") is not None


async def cmd_console(settings: Settings, args: argparse.Namespace, demo: bool = False) -> int:
    from bot.app import build_dispatcher, make_bot
    from bot.services import warm_up
    from bot.transports.console import ConsoleDriver, ConsoleSession

    user_id = args.user_id
    if not args.as_learner and user_id not in settings.admin_telegram_ids:
        settings = settings.model_copy(
            update={"admin_telegram_ids": [*settings.admin_telegram_ids, user_id]}
        )
    async with open_database(settings.database_url, settings.data_dir,
                             max_size=settings.database_pool_size) as pool:
        if demo:
            await _ensure_demo_course(pool, settings)
        session = ConsoleSession(sys.stdout)
        bot = make_bot(settings, session=session)
        dp = build_dispatcher(settings, pool)
        # Interactive only: a piped script exits before the model would be needed, and the
        # process would wait for the loading thread on the way out.
        warming = warm_up(dp["rag"]) if sys.stdin.isatty() else None  # noqa: F841
        driver = ConsoleDriver(dp, bot, session, user_id=user_id,
                               first_name=getpass.getuser().title())
        interactive = sys.stdin.isatty()
        if interactive:
            print("learnbot console — type commands (/help), numbers press buttons, "
                  "/quit leaves.")
        if demo:
            for line in args.script or ["/start enroll_sql-basics"]:
                await driver.send_line(line)
        log.info("learnbot console ready")
        await driver.run(sys.stdin, prompt=interactive)
    return 0


async def cmd_deliver(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import make_bot, make_sender
    from bot.shared import shared_limits
    from bot.transports.guard import StartupFailed, TokenRevoked, probe_token
    from bot.workers.delivery import DeliveryWorker, WorkerFailed

    async with open_database(settings.database_url, settings.data_dir,
                             max_size=settings.database_pool_size) as pool:
        bot = make_bot(settings)
        shared = shared_limits(settings)  # one budget with every other process of the bot
        sender = make_sender(settings, shared)
        worker = DeliveryWorker(pool, bot, sender, settings)
        try:
            await probe_token(bot)
            log.info("learnbot deliver ready (%s)", worker.name)
            if args.once:
                report = await worker.run_once()
                print(f"sent={report.sent} failed={report.failed} "
                      f"retry_later={report.retry_later} blocked={report.blocked} "
                      f"nudges={report.nudges}")
            else:
                stop = asyncio.Event()
                worker.stopping = stop
                _stop_on_signals(stop)
                await worker.run_forever(stop)
        except (TokenRevoked, StartupFailed, WorkerFailed) as exc:
            print(f"learnbot: {exc}", file=sys.stderr)
            return 1
        finally:
            await bot.session.close()
            if shared is not None:
                await shared.close()
    return 0


SHUTDOWN_GRACE_SECONDS = 8.0


async def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """Polling or webhook, with the supervised background loops (bot/workers/supervisor.py).

    Exit 0 after SIGTERM/SIGINT: updates stop being taken, those in flight finish, in-flight
    sends finish and broadcasts are handed over. Exit 1 with one line for a revoked token, an
    unreachable Bot API server at start, or a background loop that can't recover."""
    from bot.app import build_dispatcher, make_bot
    from bot.services import warm_up
    from bot.transports.guard import StartupFailed, TokenRevoked, guard_of, optional, probe_token
    from bot.transports.webhook import serve_webhook
    from bot.ui.menus import set_commands
    from bot.workers.delivery import DeliveryWorker
    from bot.workers.supervisor import Supervisor, prune_updates_round

    if settings.bot_token is None:
        print("BOT_TOKEN is not set: use `learnbot console` to try the bot locally, or set "
              "BOT_TOKEN to your bot's token from @BotFather.", file=sys.stderr)
        return 2
    async with open_database(settings.database_url, settings.data_dir,
                             max_size=settings.database_pool_size) as pool:
        bot = make_bot(settings)
        guard = guard_of(bot)
        try:
            await probe_token(bot)
        except (TokenRevoked, StartupFailed) as exc:
            await bot.session.close()
            print(f"learnbot: {exc}", file=sys.stderr)
            return 1
        dp = build_dispatcher(settings, pool)
        warming = warm_up(dp["rag"])  # noqa: F841 - keep a reference while it runs
        sender = dp["sender"]  # group posts, broadcasts and deliveries: one budget
        broadcaster = dp["broadcaster"]
        worker = DeliveryWorker(pool, bot, sender, settings)
        stop = asyncio.Event()
        worker.stopping = stop  # a shutdown ends the round after the sends in flight
        supervisor = Supervisor(give_up_after=settings.supervisor_give_up_seconds)
        worker.supervise(supervisor)  # deliveries and retake nudges, each its own loop
        # Broadcasts a killed process left half-sent are resumed here (bot/workers/broadcast).
        supervisor.add("broadcast resumption", lambda: broadcaster.resume(bot, sender),
                       settings.broadcast_lease_seconds / 2)
        supervisor.add("update pruning", lambda: prune_updates_round(pool, 48), 3600)
        _stop_on_signals(stop)
        background = asyncio.create_task(supervisor.run(stop))

        async def watch_token() -> None:
            await guard.revoked.wait()
            supervisor.trip(guard.reason or "the bot token was revoked")

        watcher = asyncio.create_task(watch_token())
        try:
            await set_commands(bot, settings)
            if settings.webhook_url:
                await serve_webhook(dp, bot, settings, stop)
            else:
                await optional("deleting the webhook",
                               lambda: bot.delete_webhook(drop_pending_updates=False))
                await _poll_until(dp, bot, settings, stop)
        except TokenRevoked as exc:
            supervisor.trip(str(exc))
        except Exception as exc:
            if not guard.revoked.is_set():
                raise
            supervisor.trip(guard.reason or str(exc))
        finally:
            stop.set()
            watcher.cancel()
            await background
            await broadcaster.close(grace=SHUTDOWN_GRACE_SECONDS)
            await bot.session.close()
            if dp["shared"] is not None:
                await dp["shared"].close()
        if supervisor.failed:
            print(f"learnbot: stopped: {supervisor.failed}", file=sys.stderr)
            return 1
        log.info("learnbot stopped cleanly")
    return 0


async def _poll_until(dp, bot, settings: Settings, stop: asyncio.Event) -> None:
    """Long polling until `stop`; then take no more updates and let those in flight finish
    (their offset is confirmed only by the next getUpdates, so nothing fetched is lost)."""
    log.info("learnbot ready: long polling %s",
             settings.telegram_api_url or "api.telegram.org")
    polling = asyncio.create_task(dp.start_polling(
        bot, allowed_updates=dp.resolve_used_update_types(), handle_signals=False,
        close_bot_session=False))
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({polling, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not polling.done():
            with contextlib.suppress(RuntimeError):
                await dp.stop_polling()
        await polling
        if not await dp["inflight"].idle(SHUTDOWN_GRACE_SECONDS):
            log.warning("stopping with %s update(s) still being handled", dp["inflight"].count)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="learnbot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations and exit")
    sub.add_parser("run", help="run the Telegram bot (polling or webhook) with deliveries")
    for name, help_ in (("console", "talk to the bot in this terminal"),
                        ("demo", "console on the shipped demo course, enrolled")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--user-id", type=int, default=1, help="your Telegram id in the console")
        p.add_argument("--as-learner", action="store_true", help="don't grant admin rights")
        if name == "demo":
            p.add_argument("--script", action="append",
                           help="lines to send first (default: /start enroll_sql-basics)")
    d = sub.add_parser("deliver", help="deliver due daily journeys")
    d.add_argument("--once", action="store_true", help="deliver what is due now, then exit")
    i = sub.add_parser("import-course", help="import or update a course folder or .zip")
    i.add_argument("path")
    authoring.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"learnbot: {exc}", file=sys.stderr)
        return 2
    quiet = args.command in ("console", "demo") and settings.log_level == "INFO"
    _setup_logging("WARNING" if quiet else settings.log_level)
    if args.command in ("run", "deliver", "console", "demo"):  # the long-running ones
        tune_gc()
    commands = {
        "migrate": cmd_migrate, "run": cmd_run, "deliver": cmd_deliver,
        "import-course": cmd_import, "console": cmd_console, "ask": authoring.cmd_ask,
    }
    try:
        if args.command == "demo":
            return asyncio.run(cmd_console(settings, args, demo=True))
        return asyncio.run(commands[args.command](settings, args))
    except (DatabaseUnavailable, EmbeddedPostgresError, MigrationError) as exc:
        print(f"learnbot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
