"""Streamed answers (issue 12 item 5): with an LLM configured, a private question's answer is
shown while the model writes it (the fake LLM streams server-sent events) — as drafts where
the Bot API server has `sendMessageDraft`, else as one message edited at most once a second —
and then arrives whole with its citations, exactly once. No draft ever shows a citation of a
passage that was not retrieved."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import asyncpg
import pytest

from bot.app import build_dispatcher, make_bot
from bot.config import load_settings
from tests.helpers import Clock
from tests.support.botapi import BotAPIEmulator
from tests.support.fake_llm import FakeLLM
from tests.support.harness import ADMIN, TOKEN, Harness

ADA = 7201
WORDS = ("Use DISTINCT after SELECT to list each genre once [1]. It removes duplicate rows "
         "from the result, comparing every selected column [9]. For example SELECT DISTINCT "
         "genre FROM books gives one row per genre, and ORDER BY sorts them [1][2]. A GROUP BY "
         "on the column does the same and also lets you count the books of each genre [2].")


def reply(body: dict[str, Any]) -> str:
    if "running summary" in body["messages"][0]["content"]:
        return "SUMMARY: asked about genres"
    return WORDS


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLLM]:
    async with FakeLLM(reply) as fake:
        fake.stream_delay = 0.08
        yield fake


@pytest.fixture
async def h(demo_pool: asyncpg.Pool, fake_llm: FakeLLM, embedder) -> AsyncIterator[Harness]:
    async with BotAPIEmulator() as emu:
        settings = load_settings(
            bot_token=TOKEN, telegram_api_url=emu.url, admin_telegram_ids=[ADMIN],
            flood_messages_per_minute=30, llm_base_url=fake_llm.url, llm_model="fake",
            llm_timeout_seconds=20, llm_max_retries=0,
        )
        bot = make_bot(settings)
        dp = build_dispatcher(settings, demo_pool, clock=Clock(datetime(2026, 6, 1, 7,
                                                                         tzinfo=UTC)))
        try:
            yield Harness(emu, bot, dp, settings, dp["clock"], demo_pool)
        finally:
            await bot.session.close()


def _cited(text: str) -> set[int]:
    return {int(n) for n in re.findall(r"\[(\d+)\]", text)}


async def _retrieved(h: Harness) -> set[int]:
    async with h.pool.acquire() as conn:
        passages = await conn.fetchval("SELECT passages FROM rag_answers")
    return {p["n"] for p in passages}


async def test_answer_streams_as_drafts_then_arrives_whole(h: Harness,
                                                           fake_llm: FakeLLM) -> None:
    await h.say(ADA, "/start enroll_sql-basics")
    mark = h.emu.mark()
    await h.say(ADA, "how do I list each genre only once?")
    assert fake_llm.prompts("answer")[-1]["stream"] is True

    drafts = [d for d in h.emu.drafts if d.chat_id == ADA]
    assert len(drafts) >= 3, drafts  # the answer grew in front of the learner
    bodies = [d.plain_text.removesuffix(" ▍") for d in drafts]
    assert all(b and WORDS.startswith(b.split(" [")[0][:20]) for b in bodies)
    assert [len(b) for b in bodies] == sorted(len(b) for b in bodies)
    assert len({d.draft_id for d in drafts}) == 1  # one draft, animated

    answers = [m for m in h.emu.sent[mark:] if m.chat_id == ADA
               and "GROUP BY" in (m.plain_text or "")]
    assert len(answers) == 1 and answers[0].method == "sendMessage"  # then exactly once
    final = answers[0].plain_text or ""
    assert "Sources" in final and "[1]" in final
    assert not h.emu.messages_to(ADA, "editMessageText")
    assert answers[0].button("Helpful")  # feedback buttons on the final message

    # [9] names no retrieved passage: dropped from the final answer and from every draft
    shown = await _retrieved(h)
    assert 9 not in shown
    for text in (final, *bodies):
        assert _cited(text) <= shown, text


async def test_without_drafts_one_message_is_edited_at_most_once_a_second(
    h: Harness, fake_llm: FakeLLM
) -> None:
    h.emu.drafts_supported = False  # an older Bot API server
    fake_llm.stream_delay = 0.12  # about 3 s of streaming
    await h.say(ADA, "/start enroll_sql-basics")
    mark = h.emu.mark()
    await h.say(ADA, "how do I list each genre only once?")

    assert not h.emu.drafts
    assert h.emu.calls("sendMessageDraft")  # tried once, then fell back
    new = [m for m in h.emu.sent[mark:] if m.chat_id == ADA]
    streamed = [m for m in new if m.method == "sendMessage" and "▍" in (m.plain_text or "")]
    assert len(streamed) == 1  # one message for the stream …
    edits = [m for m in new if m.method == "editMessageText"]
    assert all(e.message_id == streamed[0].message_id for e in edits)
    assert len(edits) >= 2
    times = [streamed[0].at, *(e.at for e in edits)]
    assert all(b - a >= 0.95 for a, b in pairwise(times)), times
    final = edits[-1].plain_text or ""  # … which ends as the whole answer
    assert "GROUP BY" in final and "Sources" in final and "▍" not in final
    assert not [m for m in new if m.method == "sendMessage" and "GROUP BY" in
                (m.plain_text or "") and m is not streamed[0]]
    shown = await _retrieved(h)
    for m in (streamed[0], *edits):
        assert _cited(m.plain_text or "") <= shown


async def test_a_stream_that_breaks_off_falls_back_to_excerpts(h: Harness,
                                                               fake_llm: FakeLLM) -> None:
    fake_llm.break_stream_after = 4
    await h.say(ADA, "/start enroll_sql-basics")
    mark = h.emu.mark()
    await h.say(ADA, "how do I list each genre only once?")
    new = [m for m in h.emu.sent[mark:] if m.chat_id == ADA]
    final = [m for m in new if "Sources" in (m.plain_text or "")]
    assert len(final) == 1
    assert "excerpts" in (final[0].plain_text or "")  # the fallback, labelled as such
