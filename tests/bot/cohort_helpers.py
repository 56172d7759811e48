"""Helpers for the cohort, cold-call and admin-console tests: a harness whose sender doesn't
make tests wait out group limits, group messages and reactions built by the emulator (so
`reply_to_message` is what Telegram would embed), and a database fingerprint."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bot.app import build_dispatcher, make_bot
from bot.config import load_settings
from tests.helpers import DEMO, Clock, import_path
from tests.support.botapi import BotAPIEmulator, SentMessage
from tests.support.harness import ADMIN, TOKEN, Harness

GROUP = -1001000000001
NOW = datetime(2026, 6, 1, 7, 0, tzinfo=UTC)
INVITE = re.compile(r"join_([0-9a-f]{32})")
NAMES: dict[int, str] = {}  # first names tests give their people in group messages


@asynccontextmanager
async def rig(pool: asyncpg.Pool, **overrides: Any) -> AsyncIterator[Harness]:
    """The real dispatcher and Bot against the emulator. By default the sender allows a message
    per chat at any pace (the limits themselves are the sender's own tests); pass settings to
    change that."""
    settings_kw: dict[str, Any] = {
        "delivery_chat_interval_seconds": 0, "delivery_group_per_minute": 60,
        "delivery_rate_per_second": 500, "flood_messages_per_minute": 600,
    }
    settings_kw.update(overrides)
    async with BotAPIEmulator() as emu:
        settings = load_settings(bot_token=TOKEN, telegram_api_url=emu.url,
                                 admin_telegram_ids=[ADMIN], **settings_kw)
        bot = make_bot(settings)
        dp = build_dispatcher(settings, pool, clock=Clock(NOW))
        try:
            yield Harness(emu, bot, dp, settings, dp["clock"], pool)
        finally:
            await dp["broadcaster"].close()
            await bot.session.close()


async def group_say(
    h: Harness, user_id: int, text: str, *, chat_id: int = GROUP, reply_to: int | None = None,
    thread_id: int | None = None, name: str | None = None, **extra: Any,
) -> dict[str, Any]:
    """A message in a supergroup, processed to completion; returns the Message dict."""
    msg = h.emu.push_message(
        user_id, text, chat_id=chat_id, chat_type="supergroup",
        first_name=name or NAMES.get(user_id) or f"U{user_id}",
        reply_to_message_id=reply_to, thread_id=thread_id,
        is_topic_message=thread_id is not None, chat_title="SQL spring group", **extra,
    )
    await h.feed({"update_id": h._next(), "message": msg})
    return msg


async def react(
    h: Harness, user_id: int, message_id: int, new: Iterable[str], old: Iterable[str] = (),
    *, chat_id: int = GROUP, name: str | None = None,
) -> None:
    first_name = name or NAMES.get(user_id) or f"U{user_id}"
    await h.feed({"update_id": h._next(), "message_reaction": {
        "chat": {"id": chat_id, "type": "supergroup", "title": "SQL spring group"},
        "message_id": message_id,
        "user": {"id": user_id, "is_bot": False, "first_name": first_name},
        "date": int(NOW.timestamp()),
        "old_reaction": [{"type": "emoji", "emoji": e} for e in old],
        "new_reaction": [{"type": "emoji", "emoji": e} for e in new],
    }})


def last_text(h: Harness, chat_id: int) -> str:
    sent = h.emu.messages_to(chat_id)
    return (sent[-1].plain_text or sent[-1].content or "") if sent else ""


def bot_posts(h: Harness, chat_id: int = GROUP) -> list[SentMessage]:
    return [m for m in h.emu.messages_to(chat_id) if m.method == "sendMessage"]


def invite_codes(text: str) -> list[str]:
    return INVITE.findall(text)


# Tables a refused command must not touch. Volatile bookkeeping (users' last_seen_at, the
# update de-duplication log) is left out; users are compared on what a command could change.
FINGERPRINT_TABLES = (
    "courses", "topics", "enrollments", "course_users", "cohorts", "cohort_members",
    "cohort_batch_projects", "tutors", "course_tutors", "cold_call_prompts", "cold_call_posts",
    "cold_call_messages", "cold_call_stars", "broadcasts", "broadcast_recipients",
    "page_content", "learner_activity_events", "journey_deliveries", "topic_progress",
)


async def fingerprint(conn: asyncpg.Connection) -> dict[str, str]:
    out = {}
    for table in FINGERPRINT_TABLES:
        out[table] = await conn.fetchval(
            f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
        )
    out["users"] = await conn.fetchval(
        "SELECT md5(string_agg(telegram_id || ':' || role || ':' || is_reachable, '|' "
        "ORDER BY telegram_id)) FROM users"
    )
    return out


async def private_say(h: Harness, user_id: int, text: str, *, username: str | None = None,
                      name: str | None = None, **extra: Any) -> None:
    """A private message with the sender's @username or formatting entities (the harness's
    `say` has neither)."""
    msg = h.emu.push_message(user_id, text, first_name=name or NAMES.get(user_id) or
                             f"U{user_id}", username=username, **extra)
    await h.feed({"update_id": h._next(), "message": msg})


# The cohort most cohort tests start from (see cohort_with_members).
TUTOR, ADA, BOB, CAROL, EVE = 7001, 7101, 7102, 7103, 7199
THREAD = 55
FIRST_PROMPT = "what is the difference between a row and a column"
SECOND_PROMPT = "SELECT * is quick to type"
NAMES.update({TUTOR: "Tess", ADA: "Ada", BOB: "Bob", CAROL: "Carol", EVE: "Eve"})


async def cohort_with_members(h: Harness) -> dict[int, str]:
    """Course, cohort 'spring' linked to a forum topic, a tutor, three members who joined."""
    await import_path(h.pool, DEMO)
    await h.say(ADMIN, "/cohort_new sql-basics spring")
    assert "Cohort spring created" in last_text(h, ADMIN)
    await h.say(ADMIN, f"/grant tutor {TUTOR} sql-basics")  # before the tutor ever wrote to us
    assert f"{TUTOR} now tutors" in last_text(h, ADMIN)
    await h.say(ADMIN, "/cohort_add spring batch=2 ada@example.com, BOB@Example.com "
                       "carol@example.com not-an-email")
    report = last_text(h, ADMIN)
    assert "3 added, 0 updated" in report and "not an email address: not-an-email" in report
    codes = invite_codes(report)
    assert len(codes) == 3
    await group_say(h, ADMIN, "/link spring", thread_id=THREAD)
    assert "linked to cohort spring" in last_text(h, GROUP)
    assert "posted in this topic" in last_text(h, GROUP)
    for uid, code in zip((ADA, BOB, CAROL), codes, strict=True):
        await h.say(uid, f"/start join_{code}")
        assert "Welcome to cohort spring" in last_text(h, uid)
    return dict(zip((ADA, BOB, CAROL), codes, strict=True))
