"""The question pipeline end to end on the embedded demo course: citations, LLM fallback,
session summaries (asserted on what the fake LLM server received), quota under concurrency."""

from __future__ import annotations

import asyncio
import re
import tomllib
from datetime import UTC, datetime

import asyncpg

from rag.llm import LLMClient
from rag.service import RagConfig, RagService
from storage import chat, enrollments
from storage.chat import AskContext
from storage.day import today
from storage.uow import Database
from tests import factories as f
from tests.helpers import ROOT, atomically
from tests.support.fake_llm import FakeLLM

NOW = datetime(2026, 6, 1, 7, 0, tzinfo=UTC)
PAIRS = tomllib.loads((ROOT / "tests" / "data" / "demo_questions.toml").read_text())["pairs"]


async def learner(pool: asyncpg.Pool, *, quota: int | None = None) -> AskContext:
    async with pool.acquire() as conn:
        course = await conn.fetchval("SELECT id FROM courses WHERE slug = 'sql-basics'")
        if quota is not None:
            await conn.execute("UPDATE courses SET prompt_quota = $1", quota)
        user = await f.user(conn)
        enrolled = await atomically(conn, enrollments.enroll, user, course, NOW)
        await atomically(conn, today, enrolled.course_user_id, NOW)
        ctx = await chat.ask_context(conn, user)
    assert ctx is not None and ctx.topic_title == "Tables, rows and SELECT"
    return ctx


def db(pool: asyncpg.Pool) -> Database:
    return Database(pool)


def llm(fake: FakeLLM, timeout: float = 5) -> LLMClient:
    return LLMClient(fake.url, "fake", timeout=timeout, retries=1, backoff=0.01)


async def test_llm_answer_keeps_only_citations_to_retrieved_passages(
    demo_pool: asyncpg.Pool, embedder
) -> None:
    ctx = await learner(demo_pool)
    async with FakeLLM(lambda body: "Sort with ORDER BY [1]. Cap rows with LIMIT [2][42].") \
            as fake:
        rag = RagService(embedder, llm(fake))
        reply = await rag.ask(db(demo_pool), ctx, "how do I sort the most expensive books first?",
                              typed=True)
        async with demo_pool.acquire() as conn:
            stored = await chat.messages(conn, reply.session_id)
    ans, found = reply.answer, reply.retrieval
    assert ans.mode == "llm" and "[42]" not in ans.text and ans.citations == [1, 2]
    retrieved = {p.n: p.hit.chunk_id for p in found.passages}
    assert [(c["n"], c["chunk_id"]) for c in reply.citations] == \
        [(n, retrieved[n]) for n in (1, 2)]
    prompt = fake.prompts("answer")[0]["messages"][-1]["content"]
    for p in found.passages:
        assert f"[{p.n}] ({p.topic_title}, module {p.hit.module_no})\n{p.text}" in prompt
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[1].citations == reply.citations


async def test_extractive_citations_always_point_at_retrieved_passages(
    demo_pool: asyncpg.Pool, embedder
) -> None:
    rag = RagService(embedder)
    async with demo_pool.acquire() as conn:
        course = await conn.fetchval("SELECT id FROM courses WHERE slug = 'sql-basics'")
        for pair in PAIRS:
            found = await rag.retrieve(conn, course, pair["question"])
            ans = await rag.compose(pair["question"], found, course_title="SQL")
            numbers = {int(n) for n in re.findall(r"\[(\d+)\]", ans.text)}
            assert ans.mode == "extractive" and ans.citations, pair["question"]
            assert numbers == set(ans.citations) <= {p.n for p in found.passages}


async def test_slow_or_failing_llm_falls_back_to_excerpts_with_a_note(
    demo_pool: asyncpg.Pool, embedder
) -> None:
    ctx = await learner(demo_pool)
    async with FakeLLM() as fake:
        fake.delay = 30
        slow = RagService(embedder, llm(fake, timeout=0.5))
        reply = await asyncio.wait_for(
            slow.ask(db(demo_pool), ctx, "how do I put the priciest books first?", typed=True),
            30)
        assert reply.answer.mode == "extractive" and "no reply within" in reply.answer.note
        assert reply.answer.text and reply.answer.citations

        fake.delay = 0
        fake.fail_next(10, 502)
        failing = RagService(embedder, llm(fake))
        reply = await failing.ask(db(demo_pool), ctx, "what does LIMIT do?", typed=True)
        assert reply.answer.mode == "extractive" and "HTTP 502" in reply.answer.note
        assert reply.answer.citations


async def test_older_turns_are_folded_into_a_summary_the_next_prompt_carries(
    demo_pool: asyncpg.Pool, embedder
) -> None:
    ctx = await learner(demo_pool)
    questions = ["what does SELECT * do?", "how do I list each genre once?",
                 "are SQL keywords case sensitive?", "why do text values need quotes?"]
    async with FakeLLM() as fake, demo_pool.acquire() as conn:
        rag = RagService(embedder, llm(fake), RagConfig(fold_after=4, keep_recent=2))
        for q in questions[:3]:
            reply = await rag.ask(db(demo_pool), ctx, q, typed=False)
            await rag.fold_if_due(db(demo_pool), reply.session_id)
        session = await chat.get_session(conn, reply.session_id)
        assert session.summary_message_count == 4 and session.summary_updated_at
        assert session.summary == f"SUMMARY: the learner asked {questions[0]}; {questions[1]}"
        summary_request = fake.prompts("summary")[0]["messages"][-1]["content"]
        assert questions[0] in summary_request and questions[2] not in summary_request

        await rag.ask(db(demo_pool), ctx, questions[3], typed=False)
    last = fake.prompts("answer")[-1]["messages"]
    assert session.summary in last[0]["content"]
    turns = [(m["role"], m["content"]) for m in last[1:-1]]
    assert turns[0] == ("user", questions[2]) and len(turns) == 2  # folded turns not repeated
    assert last[-1]["content"].endswith(f"Question: {questions[3]}")


async def test_without_llm_the_summary_is_extractive_and_covers_the_folded_turns(
    demo_pool: asyncpg.Pool, embedder
) -> None:
    ctx = await learner(demo_pool)
    rag = RagService(embedder, None, RagConfig(fold_after=4, keep_recent=2))
    asked = ["what does SELECT * do?", "how do I list each genre once?",
             "are SQL keywords case sensitive?"]
    async with demo_pool.acquire() as conn:
        for q in asked:
            reply = await rag.ask(db(demo_pool), ctx, q, typed=False)
            folded = await rag.fold_if_due(db(demo_pool), reply.session_id)
            assert not folded or q == asked[-1]
        session = await chat.get_session(conn, reply.session_id)
        # a second fold of the same turns loses the compare-and-set
        assert not await chat.save_summary(conn, session.id, "stale", folded_from=0,
                                           folded_to=4)
    assert session.summary_message_count == 4
    assert f"Asked: {asked[0]}" in session.summary and f"Asked: {asked[1]}" in session.summary
    assert asked[2] not in session.summary


async def test_new_session_forgets_turns_and_summary(demo_pool: asyncpg.Pool, embedder) -> None:
    ctx = await learner(demo_pool)
    async with FakeLLM() as fake, demo_pool.acquire() as conn:
        rag = RagService(embedder, llm(fake))
        await rag.ask(db(demo_pool), ctx, "what does SELECT * do?", typed=False)
        assert await chat.start_fresh(conn, ctx.user_id, ctx.course_id, ctx.topic_id) == 2
        await rag.ask(db(demo_pool), ctx, "what does DISTINCT do?", typed=False)
    assert len(fake.prompts("answer")[-1]["messages"]) == 2  # system + this question only


async def test_twenty_concurrent_typed_questions_spend_exactly_the_quota(
    demo_pool: asyncpg.Pool, embedder
) -> None:
    ctx = await learner(demo_pool, quota=5)
    rag = RagService(embedder)

    async def ask(i: int):
        return await rag.ask(db(demo_pool), ctx, f"how do I sort books by price? ({i})",
                             typed=True)

    replies = await asyncio.gather(*(ask(i) for i in range(20)))
    answered = [r for r in replies if not r.refused]
    assert len(answered) == 5 and sum(r.refused for r in replies) == 15
    assert all(r.answer.mode == "extractive" for r in answered)
    async with demo_pool.acquire() as conn:
        assert await conn.fetchval("SELECT used FROM module_prompt_usage") == 5
        assert await conn.fetchval(
            "SELECT count(*) FROM cp_rag_chat_messages WHERE role = 'user'") == 5


async def test_a_question_the_course_cannot_answer_is_free(demo_pool: asyncpg.Pool,
                                                           embedder) -> None:
    ctx = await learner(demo_pool, quota=3)
    rag = RagService(embedder)
    async with demo_pool.acquire() as conn:
        reply = await rag.ask(db(demo_pool), ctx, "what's the best pizza place in Rome?",
                              typed=True)
        assert reply.answer.mode == "unknown" and reply.refunded and not reply.citations
        assert reply.quota.left == 3
        assert await conn.fetchval("SELECT used FROM module_prompt_usage") == 0
