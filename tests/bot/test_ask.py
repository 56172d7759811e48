"""Asking the course through the real Dispatcher, a real Bot over HTTP to the Bot API emulator,
the embedded demo course and a local fake LLM server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg

from bot.app import build_dispatcher, make_bot
from bot.config import load_settings
from tests.helpers import Clock
from tests.support.botapi import BotAPIEmulator
from tests.support.fake_llm import FakeLLM
from tests.support.harness import TOKEN, Harness

ADA = 7001
BOB = 7002


async def _set_quota(h: Harness, quota: int) -> None:
    async with h.pool.acquire() as conn:
        await conn.execute("UPDATE courses SET prompt_quota = $1", quota)


async def _used(h: Harness, telegram_id: int) -> int:
    async with h.pool.acquire() as conn:
        return await conn.fetchval(
            "SELECT coalesce(sum(used), 0) FROM module_prompt_usage m JOIN users u "
            "ON u.id = m.user_id WHERE u.telegram_id = $1", telegram_id)


async def test_typed_question_gets_a_cited_answer_while_typing(asker: Harness,
                                                               fake_llm: FakeLLM) -> None:
    await asker.say(ADA, "/start enroll_sql-basics")
    mark = asker.emu.mark()
    await asker.say(ADA, "how do I list each genre only once?")
    answer = await asker.emu.wait_for("Sources", since=mark)
    text = answer.plain_text or ""
    assert "Use ORDER BY with DESC" in text  # what the model said …
    assert "[1] Tables, rows and SELECT (module 1)" in text  # … cited to a retrieved topic
    assert "9 of 10 typed questions left in Module 1" in text
    assert any(b["text"].startswith("💡") for b in answer.buttons)
    typing = asker.emu.calls("sendChatAction")
    assert typing and typing[0].params["action"] == "typing"
    prompt = fake_llm.prompts("answer")[0]["messages"][-1]["content"]
    assert "[1] (Tables, rows and SELECT, module 1)" in prompt

    await asker.say(ADA, "/quota")
    assert "Typed questions left: 9 of 10" in asker.texts_to(ADA)[-1]


async def test_at_zero_quota_the_learner_is_told_and_suggestions_stay_free(
    asker: Harness,
) -> None:
    await _set_quota(asker, 1)
    await asker.say(ADA, "/start enroll_sql-basics")
    await asker.say(ADA, "why should I list columns instead of SELECT *?")
    assert "0 of 1 typed question left" in asker.texts_to(ADA)[-1]
    await asker.say(ADA, "and what about DISTINCT?")
    refusal = asker.emu.messages_to(ADA)[-1]
    assert "You've used your 1 typed question for Module 1" in refusal.plain_text
    assert "always free" in refusal.plain_text and refusal.buttons
    assert await _used(asker, ADA) == 1

    mark = asker.emu.mark()
    await asker.press(ADA, refusal, "SELECT *")
    answer = await asker.emu.wait_for("Sources", since=mark)
    assert "typed questions left" not in answer.plain_text  # tapped: nothing spent
    assert await _used(asker, ADA) == 1
    follow_ups = [b["text"] for b in answer.buttons]
    assert "💡 Does it matter if I write SQL keywords in lowercase?" in follow_ups


async def test_twenty_concurrent_questions_with_quota_five(asker: Harness) -> None:
    await _set_quota(asker, 5)
    await asker.say(ADA, "/start enroll_sql-basics")
    mark = asker.emu.mark()
    await asyncio.gather(*(asker.say(ADA, f"how do I sort books? #{i}") for i in range(20)))
    sent = asker.emu.sent[mark:]
    answered = [m for m in sent if "Sources" in (m.plain_text or "")]
    refused = [m for m in sent if "You've used all 5" in (m.plain_text or "")]
    assert len(answered) == 5 and len(refused) == 15
    assert await _used(asker, ADA) == 5


async def test_llm_failure_still_answers_from_the_course_with_a_note(
    asker: Harness, fake_llm: FakeLLM
) -> None:
    fake_llm.fail_next(5, 500)
    await asker.say(ADA, "/start enroll_sql-basics")
    await asker.say(ADA, "how do I list each genre only once?")
    text = asker.texts_to(ADA)[-1]
    assert "From the course (excerpts)" in text and "AI tutor didn't answer" in text
    assert "DISTINCT" in text and "Sources" in text


async def test_off_topic_question_gets_i_dont_know_for_free(asker: Harness) -> None:
    await asker.say(ADA, "/start enroll_sql-basics")
    await asker.say(ADA, "what's the best pizza place in Rome?")
    text = asker.texts_to(ADA)[-1]
    assert "couldn't find that in SQL from Zero" in text and "didn't count" in text
    assert await _used(asker, ADA) == 0


async def test_not_enrolled_and_too_long(asker: Harness) -> None:
    await asker.say(BOB, "what is a table?")
    await asker.say(BOB, "x" * 2500)
    texts = asker.texts_to(BOB)
    assert "enroll in one first" in texts[0] and "too long" in texts[1]


async def test_new_starts_a_fresh_conversation(asker: Harness, fake_llm: FakeLLM) -> None:
    await asker.say(ADA, "/start enroll_sql-basics")
    await asker.say(ADA, "what does SELECT * do?")
    await asker.say(ADA, "/new")
    assert "Fresh start" in asker.texts_to(ADA)[-1]
    await asker.say(ADA, "and DISTINCT?")
    assert len(fake_llm.prompts("answer")[-1]["messages"]) == 2


async def test_persona_styles_answers_and_picks_journey_variants(
    asker: Harness, fake_llm: FakeLLM
) -> None:
    await asker.say(ADA, "/start enroll_sql-basics")
    journey = next(m for m in asker.emu.messages_to(ADA) if m.buttons)
    await asker.say(ADA, "/persona")
    menu = asker.emu.messages_to(ADA)[-1]
    await asker.press(ADA, menu, "Cooking")
    menu = asker.emu.messages_to(ADA)[-1]
    assert "set to 🍳 Cooking" in menu.plain_text and "✔ 🍳 Cooking" in str(menu.buttons)
    await asker.press(ADA, menu, "Simple English")
    await asker.press(BOB, menu, "Sports")  # not Bob's course: nothing changes
    async with asker.pool.acquire() as conn:
        assert await conn.fetchval("SELECT persona::text FROM topic_personalization") == \
            "cooking"
        assert await conn.fetchval("SELECT count(*) FROM topic_personalization") == 1

    await asker.say(ADA, "what does SELECT * do?")
    system = fake_llm.prompts("answer")[-1]["messages"][0]["content"]
    assert "cooking" in system and "simple English" in system

    await asker.press(ADA, journey, "Done")
    asker.clock.now += timedelta(days=1)
    await asker.say(ADA, "/today")
    assert any("recipes" in t for t in asker.texts_to(ADA)[-3:])  # the cooking variant


async def test_extractive_answer_label_follows_the_persona(demo_pool: asyncpg.Pool,
                                                           embedder) -> None:
    async with BotAPIEmulator() as emu:
        settings = load_settings(bot_token=TOKEN, telegram_api_url=emu.url,
                                 llm_base_url=None, llm_model=None)
        bot = make_bot(settings)
        dp = build_dispatcher(settings, demo_pool)
        h = Harness(emu, bot, dp, settings, Clock(datetime.now(UTC)), demo_pool)
        try:
            await h.say(ADA, "/start enroll_sql-basics")
            await h.say(ADA, "/persona")
            await h.press(ADA, emu.messages_to(ADA)[-1], "Sports")
            await h.say(ADA, "how do I list each genre only once?")
            text = h.texts_to(ADA)[-1]
        finally:
            await bot.session.close()
    assert "Straight from the course playbook (excerpts)" in text and "DISTINCT" in text
    assert "AI tutor" not in text  # no LLM configured: excerpts are the answer, not a fallback
