"""Buttons can't be forged: for every CallbackData factory, a payload naming someone else's
ids, a later module, an unpublished course, or garbage changes nothing and is answered with a
short "expired / not allowed" notice. A new factory without a case here fails the test."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from bot.ui import callbacks
from tests.bot.cohort_helpers import fingerprint, rig
from tests.helpers import DEMO, import_path, tiny_course
from tests.support.harness import ADMIN, Harness

ADA, BOB = 9401, 9402
REFUSALS = ("no longer", "expired", "only admins", "isn't available", "not available",
            "can't", "couldn't find", "can only")


async def _press(h: Harness, user_id: int, data: str) -> str:
    """Press a button with this payload under the last message the bot sent the user; the
    callback's answer text (or the reply, if the handler answered with a message)."""
    anchor = h.emu.messages_to(user_id)[-1].message
    before = len(h.emu.messages_to(user_id))
    update = {"update_id": h._next(), "callback_query": {
        "id": str(h._next()), "chat_instance": "ci", "message": anchor, "data": data,
        "from": {"id": user_id, "is_bot": False, "first_name": f"U{user_id}"}}}
    h.emu.push_raw(update)
    await h.feed(update)
    answer = h.emu.answered_callbacks[-1].text or ""
    replies = [m.plain_text or "" for m in h.emu.messages_to(user_id)[before:]]
    return " ".join([answer, *replies])


async def _world(h: Harness, tmp_path: Any) -> dict[str, Any]:
    await import_path(h.pool, DEMO)
    await import_path(h.pool, tiny_course(tmp_path / "draft", slug="draft"))
    await import_path(h.pool, tiny_course(tmp_path / "other", slug="other"))
    async with h.pool.acquire() as conn:
        await conn.execute("UPDATE courses SET is_published = false WHERE slug = 'draft'")
    for uid in (ADA, BOB):
        await h.say(uid, "/start enroll_sql-basics")
    await h.say(BOB, "/quiz")
    await h.say(BOB, "What does SELECT return?")
    await h.say(ADMIN, "/broadcast sql-basics Hello all")
    async with h.pool.acquire() as conn:
        ids = dict(await conn.fetchrow(
            """
            SELECT (SELECT jd.id FROM journey_deliveries jd JOIN course_users cu
                        ON cu.id = jd.course_user_id JOIN users u ON u.id = cu.user_id
                     WHERE u.telegram_id = $1 LIMIT 1) AS bob_delivery,
                   (SELECT a.attempt_id FROM quiz_attempts a JOIN users u ON u.id = a.user_id
                     WHERE u.telegram_id = $1 LIMIT 1) AS bob_attempt,
                   (SELECT id FROM users WHERE telegram_id = $1) AS bob,
                   (SELECT id FROM broadcasts LIMIT 1) AS broadcast,
                   (SELECT a.id FROM rag_answers a JOIN users u ON u.id = a.user_id
                     WHERE u.telegram_id = $1 LIMIT 1) AS bob_answer,
                   (SELECT id FROM courses WHERE slug = 'other') AS other,
                   (SELECT id FROM courses WHERE slug = 'draft') AS draft,
                   (SELECT id FROM courses WHERE slug = 'sql-basics') AS sql
            """, BOB))
    assert all(ids.values()), ids
    await h.say(ADA, "/help")  # the anchor message for Ada's presses
    return ids


def _cases(ids: dict[str, Any]) -> dict[type, list[str]]:
    c = callbacks
    return {
        c.EnrollCb: [c.EnrollCb(course=ids["draft"]).pack(),
                     c.EnrollCb(course=uuid.uuid4()).pack()],
        c.JourneyCb: [c.JourneyCb(action=a, delivery=ids["bob_delivery"]).pack()
                      for a in ("start", "done")],
        c.TimeCb: [c.TimeCb(hour=99).pack(), c.TimeCb(hour=-1).pack()],
        c.QuizCb: [c.QuizCb(attempt=ids["bob_attempt"], q=0, o=0).pack(),
                   c.QuizCb(attempt=uuid.uuid4(), q=0, o=0).pack()],
        c.QuizStartCb: [c.QuizStartCb(course=ids["sql"], module=3).pack(),
                        c.QuizStartCb(course=ids["draft"], module=1).pack(),
                        c.QuizStartCb(course=ids["other"], module=1).pack(),
                        c.QuizStartCb(course=uuid.uuid4(), module=1).pack()],
        c.BroadcastCb: [c.BroadcastCb(action=a, id=ids["broadcast"]).pack()
                        for a in ("send", "cancel", "stop")],
        c.AskCb: [c.AskCb(suggestion=uuid.uuid4()).pack()],
        c.PersonaCb: [c.PersonaCb(course=ids["other"], kind="p", value="sports").pack(),
                      c.PersonaCb(course=ids["sql"], kind="p", value="<script>").pack(),
                      c.PersonaCb(course=ids["sql"], kind="l", value="x" * 20).pack()],
        c.DeleteMeCb: [c.DeleteMeCb(action="yes", user=ids["bob"]).pack()],
        c.LeaveCb: [c.LeaveCb(course=ids["other"], action="yes").pack(),
                    c.LeaveCb(course=uuid.uuid4(), action="yes").pack()],
        c.CourseCb: [c.CourseCb(course=ids["other"]).pack(),
                     c.CourseCb(course=ids["draft"]).pack(),
                     c.CourseCb(course=uuid.uuid4()).pack()],
        c.VoteCb: [c.VoteCb(answer=ids["bob_answer"], v=v).pack() for v in ("up", "down")]
        + [c.VoteCb(answer=uuid.uuid4(), v="up").pack()],
        c.LanguageCb: [c.LanguageCb(lang=lang).pack() for lang in ("xx", "de", "<b>", "fil-ph")],
    }


GARBAGE = ["", "x", "jr:start:not-a-uuid", "qs:sql-basics:two", "bc:send", "enr",
           "del:maybe:" + "0" * 32, "qz:zz:0:1", "✓" * 16, "a:" * 32]


async def test_forged_payloads_change_nothing(pool: asyncpg.Pool, tmp_path) -> None:
    async with rig(pool) as h:
        ids = await _world(h, tmp_path)
        cases = _cases(ids)
        factories = {cls for cls in vars(callbacks).values() if isinstance(cls, type)
                     and issubclass(cls, callbacks.CallbackData)
                     and cls is not callbacks.CallbackData}
        assert factories == set(cases), "every factory needs forged cases"
        async with pool.acquire() as conn:
            before = await fingerprint(conn)
            progress = await conn.fetchval("SELECT count(*) FROM module_progress")
            attempts = await conn.fetchval("SELECT count(*) FROM quiz_attempts")
            enrolled = await conn.fetchval("SELECT count(*) FROM enrollments")
            votes = await conn.fetchval("SELECT count(*) FROM rag_answer_votes")
        for factory, payloads in cases.items():
            for data in payloads:
                assert len(data.encode()) <= 64, data
                said = await _press(h, ADA, data)
                assert any(r in said for r in REFUSALS), (factory.__name__, data, said)
        for data in GARBAGE:
            said = await _press(h, ADA, data)
            assert "no longer works" in said, (data, said)
        async with pool.acquire() as conn:
            assert await fingerprint(conn) == before
            assert await conn.fetchval("SELECT count(*) FROM module_progress") == progress
            assert await conn.fetchval("SELECT count(*) FROM quiz_attempts") == attempts
            assert await conn.fetchval("SELECT count(*) FROM enrollments") == enrolled
            assert await conn.fetchval("SELECT count(*) FROM rag_answer_votes") == votes
        assert not any("Hello all" in t for t in h.texts_to(BOB))


async def test_every_button_fits_64_bytes_with_the_longest_slug(pool: asyncpg.Pool, tmp_path
                                                                ) -> None:
    """A 63-character slug (the longest allowed) must not break /courses, /start or the quiz
    button for anyone: payloads carry ids, not slugs."""
    longest = "a" * 63
    async with rig(pool) as h:
        await import_path(pool, tiny_course(tmp_path / "long", slug=longest, modules=2))
        await h.say(ADA, "/courses")
        await h.say(ADA, "/start")
        await h.say(ADA, f"/start enroll_{longest}")
        await h.say(ADA, "/progress")
        sent = [m for m in h.emu.messages_to(ADA) if m.reply_markup]
        assert sent, h.texts_to(ADA)
        for message in sent:
            for row in message.reply_markup["inline_keyboard"]:
                for button in row:
                    assert len(button.get("callback_data", "").encode()) <= 64, button
        listing = next(m for m in sent if any("Tiny" in b["text"] for b in m.buttons))
        before = len(h.emu.messages_to(ADA))
        await h.press(ADA, listing, "Tiny")
        assert any("already enrolled in Tiny" in t for t in h.texts_to(ADA)[before:])
