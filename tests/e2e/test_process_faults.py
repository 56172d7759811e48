"""Acceptance for issue 15 with real `learnbot run` processes against the Bot API emulator and
the embedded PostgreSQL: optional calls that fail at startup, a revoked token, a PostgreSQL
restart while the bot polls and delivers, SIGTERM during a broadcast, and threaded replies in
overlapping polling batches. Counts come from what the emulator received."""

from __future__ import annotations

import asyncio
import itertools
import shlex
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from tests.e2e.helpers import (
    ADA,
    ADMIN,
    BOB,
    CAROL,
    GROUP,
    TUTOR,
    cohort_with_members,
    in_group,
    learnbot_env,
    reply_from_bot,
    say,
    until,
)
from tests.helpers import DEMO, daytime_zone, import_path, seed_enrolled, seed_learners, tiny_course
from tests.support.botapi import BotAPIEmulator

LEARNER = 930001


def _no_crash_lines(lines: list[str]) -> None:
    text = "\n".join(lines)
    assert "never retrieved" not in text, text[-3000:]
    assert "Traceback" not in text, text[-3000:]


async def test_unsupported_menus_and_garbage_typing_the_bot_starts_and_answers(
    emu: BotAPIEmulator, spawn, db_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await import_path(pool, DEMO)
    emu.unsupported(["setMyCommands"])
    emu.garbage(["sendChatAction"])
    bot = await spawn(["run"], learnbot_env(db_url, emu.url, tmp_path))
    await bot.ready()
    mark = emu.mark()
    say_private(emu, "/start enroll_sql-basics")
    await emu.wait_for(lambda m: m.chat_id == LEARNER and "journey" in (m.plain_text or ""),
                       since=mark, timeout=30)
    await asyncio.sleep(1)  # whatever else /start says has gone out
    mark = emu.mark()
    say_private(emu, "what does SELECT DISTINCT do?")
    await emu.wait_for_call("sendChatAction", timeout=90)  # typing: garbage came back
    answer = await emu.wait_for(lambda m: m.chat_id == LEARNER, since=mark, timeout=90)
    assert answer.plain_text
    await bot.stop()
    assert bot.proc and bot.proc.returncode == 0
    warnings = [line for line in bot.lines if "command menus" in line]
    assert len(warnings) == 1 and "WARNING" in warnings[0], warnings
    _no_crash_lines(bot.lines)


def say_private(emu: BotAPIEmulator, text: str) -> None:
    emu.push_message(LEARNER, text, first_name="Lea")


async def test_a_token_revoked_while_running_stops_with_one_line(
    emu: BotAPIEmulator, spawn, db_url: str, tmp_path: Path
) -> None:
    bot = await spawn(["run"], learnbot_env(db_url, emu.url, tmp_path))
    await bot.ready()
    emu.revoke_token()
    code = await bot.wait(timeout=30)
    assert code == 1
    last = [line for line in bot.lines if line.startswith("learnbot:")]
    assert len(last) == 1 and "401" in last[0] and "BOT_TOKEN" in last[0], bot.lines[-10:]


async def test_a_token_rejected_at_start_is_one_line(
    emu: BotAPIEmulator, spawn, db_url: str, tmp_path: Path
) -> None:
    emu.revoke_token()
    bot = await spawn(["run"], learnbot_env(db_url, emu.url, tmp_path))
    assert await bot.wait(timeout=60) == 1
    assert [line for line in bot.lines if line.startswith("learnbot:")] == [
        "learnbot: Telegram rejected the bot token (401 Unauthorized): check BOT_TOKEN"]
    _no_crash_lines(bot.lines)


# --- PostgreSQL restarts --------------------------------------------------------------------

def _pg_ctl(server, *args: str) -> None:
    from pgserver._commands import pg_ctl

    pg_ctl(list(args), pgdata=server.pgdata, user=server.system_user, timeout=60)


def stop_postgres(server) -> None:
    _pg_ctl(server, "-w", "-m", "fast", "stop")


def start_postgres(server) -> None:
    """Start it again with the options it last ran with (postmaster.opts, minus -D)."""
    words = shlex.split((Path(server.pgdata) / "postmaster.opts").read_text())[1:]
    if "-D" in words:
        i = words.index("-D")
        del words[i:i + 2]
    _pg_ctl(server, "-w", "-o", shlex.join(words), "start")


def cards(emu: BotAPIEmulator) -> Counter:
    return Counter(c.params["chat_id"] for c in emu.calls("sendMessage")
                   if c.ok and "Today's journey" in str(c.params.get("text")))


async def test_postgres_restart_while_polling_and_delivering(
    emu: BotAPIEmulator, spawn, db_url: str, pool: asyncpg.Pool, pg_server, tmp_path: Path
) -> None:
    report = await import_path(pool, tiny_course(tmp_path / "c"))
    now = datetime.now(UTC)
    base = 8_300_000
    await seed_learners(pool, report.course_id, 30, base=base,
                        due=now - timedelta(minutes=1), timezone=daytime_zone(now))
    # a second group falls due while the database is down
    await seed_learners(pool, report.course_id, 30, base=base + 100,
                        due=now + timedelta(seconds=25), timezone=daytime_zone(now))
    await pool.expire_connections()
    bot = await spawn(["run"], learnbot_env(db_url, emu.url, tmp_path,
                                            delivery_rate_per_second="100"))
    await bot.ready()
    await until(_count(emu, 30), timeout=60)

    await asyncio.to_thread(stop_postgres, pg_server)
    try:
        mark = emu.mark()
        say_private(emu, "/progress")  # needs the database: a short "trouble" reply
        trouble = await emu.wait_for(lambda m: m.chat_id == LEARNER, since=mark, timeout=30)
        assert "trouble" in (trouble.plain_text or "").lower()
        await asyncio.sleep(20)  # down for a while: the delivery loop fails and backs off
        assert bot.proc and bot.proc.returncode is None  # the process survives
    finally:
        await asyncio.to_thread(start_postgres, pg_server)

    await until(_count(emu, 60), timeout=120)  # reconnected: the second group goes out
    mark = emu.mark()
    say_private(emu, "/help")
    await emu.wait_for(lambda m: m.chat_id == LEARNER, since=mark, timeout=30)
    await asyncio.sleep(3)  # a few more delivery rounds: nothing goes out twice
    got = cards(emu)
    assert set(got) == {base + g for g in range(1, 31)} | {base + 100 + g for g in range(1, 31)}
    assert set(got.values()) == {1}, got.most_common(3)
    conn = await asyncpg.connect(db_url)  # the fixture pool's connections died with the server
    try:
        async def all_recorded() -> bool:  # the bot's stale pooled connections are replaced
            return await conn.fetchval(    # one failed try at a time, then it records
                "SELECT count(*) FROM journey_deliveries WHERE status = 'sent'") == 60
        try:
            await until(all_recorded, timeout=60)
        except AssertionError:
            unsent = await conn.fetch(
                "SELECT status::text, last_error, attempts, visible_at, claimed_by "
                "FROM journey_deliveries WHERE status <> 'sent'")
            raise AssertionError(f"unrecorded: {unsent}\n" + "\n".join(
                line for line in bot.lines if "WARNING" in line or "ERROR" in line)) from None
        per_day = await conn.fetchval(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM journey_deliveries "
            "GROUP BY course_user_id, local_date) d")
        sent = await conn.fetchval(
            "SELECT count(*) FROM journey_deliveries WHERE status = 'sent'")
    finally:
        await conn.close()
    assert set(cards(emu).values()) == {1}  # still: nothing went out twice
    assert per_day == 1 and sent == 60
    await bot.stop()
    assert bot.proc.returncode == 0
    assert any("keeps failing" in line or "round failed" in line for line in bot.lines)


def _count(emu: BotAPIEmulator, n: int):
    async def enough_cards() -> bool:
        return sum(cards(emu).values()) >= n
    return enough_cards


# --- SIGTERM during a broadcast -------------------------------------------------------------

BODY = "Exam moved to Monday 10:00."


def received(emu: BotAPIEmulator) -> Counter:
    return Counter(c.params["chat_id"] for c in emu.calls("sendMessage")
                   if c.ok and c.params.get("text") == BODY)


async def test_sigterm_during_a_broadcast_exits_0_and_the_next_process_finishes(
    emu: BotAPIEmulator, spawn, db_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    report = await import_path(pool, DEMO)
    await seed_enrolled(pool, report.course_id, 400, base=6_400_000)
    env = learnbot_env(db_url, emu.url, tmp_path, admin_telegram_ids=str(ADMIN),
                       delivery_rate_per_second="50", broadcast_lease_seconds="3",
                       broadcast_progress_seconds="1")
    first = await spawn(["run"], env)
    await first.ready()
    say(emu, ADMIN, f"/broadcast sql-basics {BODY}")
    preview = await emu.wait_for(lambda m: m.chat_id == ADMIN and "Send to 400" in str(
        m.buttons), timeout=30)
    emu.push_callback(ADMIN, preview.message_id, preview.button("Send to")["callback_data"])
    await until(_reached(emu, 150), timeout=60)

    assert first.proc
    first.proc.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    code = await first.wait(timeout=30)
    took = time.monotonic() - t0
    assert code == 0 and took < 10, (code, took, "\n".join(first.lines[-30:]))
    at_stop = sum(received(emu).values())
    assert at_stop < 400
    async with pool.acquire() as conn:
        states = dict(await conn.fetch(
            "SELECT status::text, count(*) FROM broadcast_recipients GROUP BY 1"))
    assert "sending" not in states and "unconfirmed" not in states, states  # handed over clean

    second = await spawn(["run"], env)
    await second.ready()
    await emu.wait_for(lambda m: m.chat_id == ADMIN and "done in" in (m.plain_text or ""),
                       timeout=90)
    got = received(emu)
    assert len(got) == 400 and set(got.values()) == {1}, got.most_common(3)
    async with pool.acquire() as conn:
        assert await conn.fetchval(
            "SELECT count(*) FROM broadcast_recipients WHERE status = 'sent'") == 400
    _no_crash_lines(first.lines)


def _reached(emu: BotAPIEmulator, n: int):
    async def reached() -> bool:
        return sum(received(emu).values()) >= n
    return reached


# --- threaded replies in overlapping polling batches ----------------------------------------

async def test_fifty_threaded_replies_in_five_overlapping_polling_batches(
    emu: BotAPIEmulator, spawn, db_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await import_path(pool, DEMO)
    emu.add_chat(GROUP, "supergroup", title="SQL from Zero — spring")
    bot = await spawn(["run"], learnbot_env(db_url, emu.url, tmp_path,
                                            admin_telegram_ids=str(ADMIN)))
    await bot.ready()
    mark = emu.mark()
    await cohort_with_members(emu, mark)
    in_group(emu, TUTOR, "/coldcall 1.1")
    post = await reply_from_bot(emu, GROUP, "Cold call", mark)

    # each reply answers the one before it; five batches of ten, each pushed as soon as the
    # bot has fetched the previous one (so it is still being handled)
    people = (ADA, BOB, CAROL)
    messages: list[dict] = []
    for b in range(5):
        for i in range(10):
            n = b * 10 + i
            parent = messages[-1]["message_id"] if messages else post.message_id
            messages.append(in_group(emu, people[n % 3], f"Reply {n}", parent))
        await until(_fetched(emu, messages[-1]["message_id"]), timeout=10)

    async def all_stored() -> bool:
        async with pool.acquire() as conn:
            return await conn.fetchval("SELECT count(*) FROM cold_call_messages") >= 50
    await until(all_stored, timeout=60)
    async with pool.acquire() as conn:
        rows = {r["telegram_message_id"]: r for r in await conn.fetch(
            "SELECT id, telegram_message_id, parent_id, root_id FROM cold_call_messages")}
    assert len(rows) == 50
    first = rows[messages[0]["message_id"]]
    assert first["parent_id"] is None
    for prev, m in itertools.pairwise(messages):
        row = rows[m["message_id"]]
        assert row["parent_id"] == rows[prev["message_id"]]["id"], m["text"]
        assert row["root_id"] == first["id"]
    _no_crash_lines(bot.lines)


def _fetched(emu: BotAPIEmulator, message_id: int):
    """The bot's getUpdates has returned the update carrying `message_id`."""
    async def fetched() -> bool:
        return any(isinstance(c.result, list) and any(
            (u.get("message") or {}).get("message_id") == message_id for u in c.result)
            for c in emu.calls("getUpdates"))
    return fetched
