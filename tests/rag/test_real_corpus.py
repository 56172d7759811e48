"""Retrieval and extractive answers on text nobody here wrote: the PostgreSQL 15 tutorial,
DDL, DML and query chapters (tests/data/corpora/pg-tutorial), imported through the real path,
against naive 180-word-window baselines, on the held-out half of its questions
(bench/rag_eval.py prints the full figures)."""

from __future__ import annotations

import asyncpg

from bench import rag_eval
from content.importer import import_source
from rag.service import RagService
from storage.uow import Database

# What learnbot reaches on the held-out questions today (0.755 and 0.925 at @1 and @3, first
# sentence 0.736: bench/rag_eval.py), less a question's worth of slack for CPU-dependent float
# noise in the encoder; the goal (0.85, 0.95 and 0.85) is not met.
MIN_HELDOUT = {1: 0.73, 3: 0.90}
MIN_FIRST_SENTENCE = 0.71


async def test_learnbot_beats_the_window_baselines_on_held_out_questions(
    pool: asyncpg.Pool, embedder
) -> None:
    corpus = rag_eval.load_corpus("pg", rag_eval.PG_COURSE, rag_eval.PG_QUESTIONS)
    assert len(corpus.questions) >= 80
    assert sum(q.section is not None for q in corpus.questions) >= len(corpus.questions) / 4
    report = await import_source(pool, corpus.src, embedder=embedder)
    async with pool.acquire() as conn:
        figures = await rag_eval.evaluate(conn, report.course_id, corpus, embedder,
                                          splits=("heldout",),
                                          retrievers=("learnbot", "win-bm25", "win-vector"))
    print("\n" + rag_eval.report(corpus, figures, report.chunks))
    ours = figures.recall[("learnbot", "heldout")]
    for k in (1, 3):
        assert ours[k] > figures.recall[("win-bm25", "heldout")][k], k
        assert ours[k] > figures.recall[("win-vector", "heldout")][k], k
        assert ours[k] >= MIN_HELDOUT[k], k
    assert figures.first_sentence["heldout"] >= MIN_FIRST_SENTENCE
    # "I don't know" floor: off-topic questions get no passages at all
    assert figures.off_topic_passages == 0


async def test_extractive_citations_name_only_retrieved_passages(pool: asyncpg.Pool,
                                                                 embedder) -> None:
    corpus = rag_eval.load_corpus("pg", rag_eval.PG_COURSE, rag_eval.PG_QUESTIONS)
    report = await import_source(pool, corpus.src, embedder=embedder)
    rag = RagService(embedder)
    async with pool.acquire() as conn:
        for q in corpus.questions[::7]:
            found = await rag.retrieve(conn, report.course_id, q.text)
            ans = await rag.compose(q.text, found, course_title=corpus.src.title)
            shown = {p.n for p in found.passages}
            assert ans.citations and set(ans.citations) <= shown, q.text
            assert len(ans.citations) <= 2 and len(ans.text) <= 4096


async def test_the_bots_overlapped_search_finds_what_the_one_connection_search_finds(
    pool: asyncpg.Pool, embedder
) -> None:
    """The bot runs BM25 while the question is embedded and fills in its passages'
    similarities afterwards (RagService.retrieve on a pool); a tool holding one connection
    runs the steps in turn. A learner gets the same passages, scores and floor either way."""
    corpus = rag_eval.load_corpus("pg", rag_eval.PG_COURSE, rag_eval.PG_QUESTIONS)
    report = await import_source(pool, corpus.src, embedder=embedder)
    rag = RagService(embedder)
    questions = [q.text for q in corpus.questions[::5]] + corpus.off_topic[:2]
    for question in questions:
        overlapped = await rag.retrieve(Database(pool), report.course_id, question)
        async with pool.acquire() as conn:
            in_turn = await rag.retrieve(conn, report.course_id, question)
        assert [(p.hit.chunk_id, p.fts_rank, p.vector_rank) for p in overlapped.passages] \
            == [(p.hit.chunk_id, p.fts_rank, p.vector_rank) for p in in_turn.passages], question
        assert [round(p.score, 5) for p in overlapped.passages] \
            == [round(p.score, 5) for p in in_turn.passages], question
        assert overlapped.confident == in_turn.confident
    assert pool.get_size() - pool.get_idle_size() == 0  # every connection went back
