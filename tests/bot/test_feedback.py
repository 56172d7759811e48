"""👍/👎 under answers, end to end: the real Dispatcher, a real Bot over HTTP to the Bot API
emulator, the embedded demo course (extractive answers, no LLM). One vote per learner and
answer, changeable; a forged payload naming someone else's answer changes nothing; /stats
shows the helpfulness rate and the most down-voted questions; tutors and admins list a
course's down-voted answers with /downvoted."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from bot.app import build_dispatcher, make_bot
from bot.config import load_settings
from bot.ui import texts
from bot.ui.callbacks import VoteCb
from tests.helpers import Clock
from tests.support.botapi import BotAPIEmulator, SentMessage
from tests.support.harness import ADMIN, TOKEN, Harness

ADA = 7101
BOB = 7102
TESS = 7103  # becomes the course's tutor
QUESTION = "how do I list each genre only once?"


@pytest.fixture
async def h(demo_pool: asyncpg.Pool, embedder) -> AsyncIterator[Harness]:
    async with BotAPIEmulator() as emu:
        settings = load_settings(bot_token=TOKEN, telegram_api_url=emu.url,
                                 admin_telegram_ids=[ADMIN], flood_messages_per_minute=60)
        clock = Clock(datetime(2026, 6, 1, 7, 0, tzinfo=UTC))
        bot = make_bot(settings)
        dp = build_dispatcher(settings, demo_pool, clock=clock)
        try:
            yield Harness(emu, bot, dp, settings, clock, demo_pool)
        finally:
            await bot.session.close()


async def _ask(h: Harness, user: int, question: str) -> SentMessage:
    await h.say(user, "/start enroll_sql-basics")
    mark = h.emu.mark()
    await h.say(user, question)
    return await h.emu.wait_for(lambda m: m.chat_id == user and any(
        "Helpful" in str(b.get("text")) for b in m.buttons), since=mark)


async def _votes(h: Harness) -> list[tuple[int, bool, str]]:
    async with h.pool.acquire() as conn:
        rows = await conn.fetch(
            """
            SELECT u.telegram_id, v.helpful, a.question FROM rag_answer_votes v
            JOIN users u ON u.id = v.user_id JOIN rag_answers a ON a.id = v.answer_id
            ORDER BY u.telegram_id
            """)
    return [(r["telegram_id"], r["helpful"], r["question"]) for r in rows]


async def _press_data(h: Harness, user: int, message: SentMessage, data: str) -> None:
    """A callback with any payload, as a client could forge it."""
    update = {
        "update_id": h._next(),
        "callback_query": {
            "id": str(h._next()),
            "from": {"id": user, "is_bot": False, "first_name": f"U{user}"},
            "chat_instance": "ci", "message": message.message, "data": data,
        },
    }
    h.emu.push_raw(update)
    await h.feed(update)


async def test_vote_is_stored_with_the_answer_and_can_be_changed(h: Harness) -> None:
    answer = await _ask(h, ADA, QUESTION)
    labels = [b["text"] for b in answer.buttons]
    assert labels[:2] == [texts.VOTE_UP, texts.VOTE_DOWN]
    assert all(len(b["callback_data"].encode()) <= 64 for b in answer.buttons)

    async with h.pool.acquire() as conn:
        stored = await conn.fetchrow("SELECT * FROM rag_answers")
    # kept with what the answer was made of: the question, every passage, the citations
    assert stored["question"] == QUESTION and stored["mode"] == "extractive"
    assert stored["passages"] and {"chunk_id", "topic_title", "score"} <= set(
        stored["passages"][0])
    assert stored["citations"] and {c["chunk_id"] for c in stored["citations"]} <= {
        p["chunk_id"] for p in stored["passages"]}
    assert f"fb:{stored['id'].hex}:down" == answer.button("Not helpful")["callback_data"]

    await h.press(ADA, answer, "Not helpful")
    assert h.emu.answered_callbacks[-1].text == texts.VOTE_THANKS[False]
    assert await _votes(h) == [(ADA, False, QUESTION)]
    edited = h.emu.messages_to(ADA, "editMessageReplyMarkup")[-1]
    assert edited.button("Not helpful")["text"] == texts.VOTE_CHOSEN + texts.VOTE_DOWN

    await h.press(ADA, answer, "Not helpful")  # the same again: nothing to change
    assert h.emu.answered_callbacks[-1].text == texts.VOTE_SAME
    await h.press(ADA, answer, "Helpful")  # changed: still one vote
    assert h.emu.answered_callbacks[-1].text == texts.VOTE_THANKS[True]
    assert await _votes(h) == [(ADA, True, QUESTION)]


async def test_a_forged_vote_on_someone_elses_answer_is_refused(h: Harness) -> None:
    ada_answer = await _ask(h, ADA, QUESTION)
    await h.press(ADA, ada_answer, "Not helpful")
    bob_answer = await _ask(h, BOB, "what does NULL mean?")
    ada_id = uuid.UUID(VoteCb.unpack(ada_answer.button("Helpful")["callback_data"]).answer.hex)

    # Bob's client sends a vote naming Ada's answer (and one naming no answer at all)
    for data in (VoteCb(answer=ada_id, v="up").pack(), VoteCb(answer=uuid.uuid4(), v="up").pack()):
        await _press_data(h, BOB, bob_answer, data)
        last = h.emu.answered_callbacks[-1]
        assert last.text == texts.VOTE_REFUSED and last.show_alert
    assert await _votes(h) == [(ADA, False, QUESTION)]  # nothing changed
    # a payload that doesn't parse never reaches the vote handler
    await _press_data(h, BOB, bob_answer, f"fb:{ada_id.hex}:maybe")
    assert await _votes(h) == [(ADA, False, QUESTION)]


async def test_stats_and_downvoted_show_what_to_fix(h: Harness) -> None:
    for user, question, button in ((ADA, QUESTION, "Not helpful"),
                                   (BOB, "  How do I list each GENRE only once? ", "Not helpful"),
                                   (TESS, "what does NULL mean?", "Helpful")):
        answer = await _ask(h, user, question)
        await h.press(user, answer, button)

    await h.say(ADMIN, "/stats")
    overview = "\n".join(h.texts_to(ADMIN))
    assert "Answers (rated helpful)" in overview
    assert "SQL from Zero: 3 answers, 3 votes — 33% helpful (👍 1 · 👎 2)" in overview
    # the same question, however it was typed, counts as one
    assert "👎 2 sql-basics — " in overview and "👎 1" not in overview
    mark = h.emu.mark()
    await h.say(ADMIN, "/stats sql-basics")
    course = "\n".join(m.plain_text or "" for m in h.emu.sent[mark:] if m.chat_id == ADMIN)
    assert "3 answers, 3 votes — 33% helpful" in course and "👎 2 — " in course

    # learners may not list them; the course's tutor and admins may
    await h.say(BOB, "/downvoted sql-basics")
    assert "Only the tutors of" in h.texts_to(BOB)[-1]
    await h.say(ADMIN, "/downvoted")
    assert "Usage" in h.texts_to(ADMIN)[-1]
    await h.say(ADMIN, "/downvoted no-such-course")
    assert "couldn't find" in h.texts_to(ADMIN)[-1]
    await h.say(ADMIN, f"/grant tutor {TESS} sql-basics")
    await h.say(TESS, "/downvoted sql-basics")
    listing = h.texts_to(TESS)[-1]
    assert "Down-voted answers in" in listing
    assert listing.count("Q:") == 2 and "what does NULL mean?" not in listing
    assert "Cited:" in listing and "Retrieved:" in listing
