"""Chunking: token-bounded, heading-aware, code kept whole, overlapping, deterministic."""

from __future__ import annotations

import itertools
import re

from content.course_format import load_course
from rag.chunking import MAX_TOKENS, MIN_TAIL_TOKENS, chunk_course, chunk_topic, count_tokens
from tests.helpers import DEMO

PROSE = " ".join(f"Sentence number {i} explains one more detail about joins." for i in range(60))
CODE = "```sql\nSELECT title, price\nFROM books\nORDER BY price DESC;\n```"


def test_chunks_are_bounded_and_keep_headings() -> None:
    chunks = chunk_topic("c", "joins", 2, "Summaries and joins", "Inner joins", PROSE)
    assert len(chunks) > 3
    assert all(c.token_count <= MAX_TOKENS for c in chunks)
    assert all(c.heading == "Summaries and joins › Inner joins" for c in chunks)
    assert all(c.embed_text.startswith(c.heading) for c in chunks)
    assert [c.chunk_id for c in chunks] == [f"c/joins/{i}" for i in range(len(chunks))]


def test_neighbouring_chunks_overlap_by_whole_sentences() -> None:
    chunks = chunk_topic("c", "t", 1, "M", "T", PROSE)
    for a, b in itertools.pairwise(chunks):
        last = re.findall(r"Sentence number \d+ [^.]*\.", a.content)[-1]
        assert b.content.startswith(last)


def test_code_block_kept_whole_when_it_fits() -> None:
    body = f"{PROSE[:600]}\n\n{CODE}\n\n{PROSE[:600]}"
    chunks = chunk_topic("c", "t", 1, "M", "T", body)
    holding = [c for c in chunks if "ORDER BY price DESC" in c.content]
    assert holding and all(CODE in c.content for c in holding)


def test_oversized_code_block_is_split_into_fenced_pieces() -> None:
    code = "```sql\n" + "\n".join(f"INSERT INTO t VALUES ({i}, 'row {i}');" for i in range(80)) \
        + "\n```"
    chunks = chunk_topic("c", "t", 1, "M", "T", code)
    assert len(chunks) > 1
    for c in chunks:
        assert c.content.startswith("```sql") and c.content.endswith("```")
        assert c.token_count <= MAX_TOKENS
    rows = [line for c in chunks for line in c.content.splitlines() if line.startswith("INSERT")]
    assert len(set(rows)) == 80  # nothing lost


def test_a_short_closing_line_joins_the_previous_chunk() -> None:
    body = PROSE[:900] + "\n\nTry it: write one query."
    chunks = chunk_topic("c", "t", 1, "M", "T", body)
    assert chunks[-1].content.endswith("Try it: write one query.")
    assert count_tokens(chunks[-1].content) > MIN_TAIL_TOKENS


def test_demo_course_chunks_are_deterministic_and_lose_nothing() -> None:
    src = load_course(DEMO)
    first, second = chunk_course(src), chunk_course(load_course(DEMO))
    assert [(c.chunk_id, c.content_hash("m")) for c in first] == \
        [(c.chunk_id, c.content_hash("m")) for c in second]
    assert len({c.chunk_id for c in first}) == len(first)
    assert first[0].content_hash("m") != first[0].content_hash("other-model")
    for topic in src.topics:
        text = " ".join(c.content for c in first if c.topic_key == topic.key)
        for word in set(re.findall(r"\w{4,}", topic.body)):
            assert word in text, (topic.title, word)
