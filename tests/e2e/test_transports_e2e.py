"""The other two transports as real processes: webhook mode (secret token enforced) and the
console transport on a pipe (what `make demo` runs)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import aiohttp
import asyncpg

from tests.e2e.helpers import ROOT, learnbot_env
from tests.helpers import DEMO, import_path
from tests.support.botapi import BotAPIEmulator

LEARNER = 515151
SECRET = "k9Vq2rT7xW4mZ8bN1cL5pH3sJ6fD0gYa-_Qe"  # 36 characters of Telegram's alphabet


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def update(update_id: int, text: str) -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id, "date": 1767000000, "text": text,
            "chat": {"id": LEARNER, "type": "private"},
            "from": {"id": LEARNER, "is_bot": False, "first_name": "Wes"},
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
        },
    }


async def test_webhook_checks_the_secret_token(
    emu: BotAPIEmulator, spawn, db_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    port = free_port()
    public = "https://bot.example.test/tg/webhook"  # behind a TLS-terminating proxy
    url = f"http://127.0.0.1:{port}/tg/webhook"
    env = learnbot_env(db_url, emu.url, tmp_path, webhook_url=public, webhook_secret=SECRET,
                       webhook_listen_host="127.0.0.1", webhook_listen_port=str(port))
    bot = await spawn(["run"], env)
    await bot.ready()
    assert emu.webhook_url == public
    async with aiohttp.ClientSession() as http:
        bad = await http.post(url, json=update(1, "/help"),
                              headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"})
        assert bad.status == 401
        missing = await http.post(url, json=update(2, "/help"))
        assert missing.status == 401
        good = await http.post(url, json=update(3, "/help"),
                               headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
        assert good.status == 200
    await emu.wait_for("What I can do")
    await asyncio.sleep(0.5)
    assert len([m for m in emu.messages_to(LEARNER) if "What I can do" in (m.plain_text or "")
                ]) == 1
    # the forged posts left no trace: no update recorded, no user created by them
    seen = await pool.fetch("SELECT update_id FROM processed_updates WHERE update_id IN (1, 2, 3)")
    assert [r["update_id"] for r in seen] == [3]


async def test_webhook_refuses_to_start_without_a_real_secret(
    emu: BotAPIEmulator, db_url: str, tmp_path: Path
) -> None:
    base = learnbot_env(db_url, emu.url, tmp_path, webhook_url="https://bot.example.test/hook")
    for secret, needle in ((None, "Missing setting WEBHOOK_SECRET"),
                           ("short-secret", "at least 32 characters")):
        env = dict(base)
        env.pop("WEBHOOK_SECRET", None)
        if secret:
            env["WEBHOOK_SECRET"] = secret
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        lines = err.decode().strip().splitlines()
        assert proc.returncode == 2
        assert len(lines) == 1 and needle in lines[0] and "token_urlsafe" in lines[0], lines
    assert emu.webhook_url == ""  # nothing was set up


async def test_console_demo_on_a_pipe(db_url: str, pool: asyncpg.Pool, tmp_path: Path) -> None:
    await import_path(pool, DEMO)
    env = {**os.environ, "DATABASE_URL": db_url, "DATA_DIR": str(tmp_path)}
    env.pop("BOT_TOKEN", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "demo", cwd=ROOT, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(
        proc.communicate(b"1\n/progress\n/timezone Europe/Berlin\n/nonsense\n"), 120)
    transcript = out.decode()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "you> /start enroll_sql-basics" in transcript
    assert "Tables, rows and SELECT" in transcript
    assert "[1] ✅ Done" in transcript
    assert "you> [✅ Done]" in transcript and "Done: Tables, rows and SELECT" in transcript
    assert "(1/12 journeys)" in transcript
    assert "Time zone set to Europe/Berlin" in transcript
    assert "I don't know the command /nonsense" in transcript
    assert "<b>" not in transcript  # HTML rendered for the terminal
