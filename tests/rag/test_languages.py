"""Retrieval per language on the demo course (module 1 in English and Filipino): a Filipino
learner's question is searched in the Filipino passages, falls back to the English passages of
topics that have no Filipino version, and a language the course isn't written in searches the
default language, exactly as for an English learner."""

from __future__ import annotations

import asyncpg

from rag.service import RagService
from storage import chunks
from tests.helpers import atomically


async def _course(conn: asyncpg.Connection):
    return await conn.fetchval("SELECT id FROM courses WHERE slug = 'sql-basics'")


async def test_a_filipino_question_is_searched_in_the_filipino_passages(
    demo_pool: asyncpg.Pool, embedder,
) -> None:
    rag = RagService(embedder)
    async with demo_pool.acquire() as conn:
        course = await _course(conn)
        found = await rag.retrieve(conn, course, "Paano ko ililista ang bawat genre nang "
                                                 "isang beses lang?", lang="fil")
        assert found.language == "fil"
        assert found.passages[0].hit.topic_key == "tables-rows-and-select"
        assert found.passages[0].topic_title == "Mga table, row at SELECT"
        module_one = [p for p in found.passages if p.hit.module_no == 1]
        assert module_one and all(p.hit.chunk_id.endswith("@fil") for p in module_one)


async def test_topics_without_a_filipino_version_fall_back_to_english(
    demo_pool: asyncpg.Pool, embedder,
) -> None:
    """Which passages a Filipino question may be answered from (ranking them across
    languages is the embedding model's part: see README, "Languages of course content")."""
    question = "Paano gamitin ang GROUP BY at HAVING para bilangin ang libro bawat genre?"
    vec = await embedder.embed_query(question)
    async with demo_pool.acquire() as conn:
        course = await _course(conn)
        everything = await atomically(conn, chunks.vector_search, course, vec, 200, language="fil",
                                      fallback="en")
        total = await conn.fetchval(
            "SELECT count(*) FROM course_chunks WHERE course_id = $1", course)
        en_module_one = await conn.fetchval(
            "SELECT count(*) FROM course_chunks WHERE course_id = $1 AND module_no = 1 "
            "AND language = 'en'", course)
        bm25 = await chunks.text_search(conn, course, question, 30, language="fil")
    modules = {h.module_no for h in everything}
    assert modules == {1, 2, 3}
    assert all(h.chunk_id.endswith("@fil") == (h.module_no == 1) for h in everything)
    assert len(everything) == total - en_module_one  # English module 1 is never searched
    assert "grouping-with-group-by-and-having" in {h.topic_key for h in everything}
    assert bm25 and all(h.chunk_id.endswith("@fil") for h in bm25)  # BM25: Filipino only


async def test_english_and_undeclared_languages_search_the_english_passages(
    demo_pool: asyncpg.Pool, embedder,
) -> None:
    rag = RagService(embedder)
    question = "Why does = NULL never match anything?"
    async with demo_pool.acquire() as conn:
        course = await _course(conn)
        english = await rag.retrieve(conn, course, question)
        german = await rag.retrieve(conn, course, question, lang="de")
    assert german.language == english.language == "en"
    assert [p.hit.chunk_id for p in german.passages] == \
        [p.hit.chunk_id for p in english.passages]
    assert english.passages[0].hit.topic_key == "filtering-rows-with-where"
    assert not any("@" in p.hit.chunk_id for p in english.passages)


async def test_an_off_topic_filipino_question_gets_no_passage(
    demo_pool: asyncpg.Pool, embedder,
) -> None:
    """The English model's cosine between two Filipino texts is carried by their shared
    function words: without the lexical gate an off-topic Filipino question is "answered"
    from module 1; with it (what a learner gets) there is nothing to answer from, while an
    on-topic question still finds its topic."""
    from rag import retrieval

    rag = RagService(embedder)
    off_topic = "Paano magluto ng adobong manok?"
    async with demo_pool.acquire() as conn:
        course = await _course(conn)
        vec = await embedder.embed_query(off_topic)
        ungated = await retrieval.retrieve(conn, course, off_topic, vec, language="fil",
                                           fallback="en")
        assert ungated.passages, "the gate would have nothing to do"
        assert not (await rag.retrieve(conn, course, off_topic, lang="fil")).passages
        on_topic = await rag.retrieve(conn, course, "Paano ko ililista ang bawat genre nang "
                                                    "isang beses lang?", lang="fil")
        assert on_topic.passages[0].hit.topic_key == "tables-rows-and-select"
