"""`learnbot ask` and `learnbot import-course` run in-process against a real test database."""

from __future__ import annotations

import json

import pytest

from bot import authoring
from bot.cli import build_parser, cmd_import
from bot.config import load_settings
from tests.helpers import DEMO


async def test_ask_json_shows_answer_citations_and_passages(
    demo_db_url: str, embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(database_url=demo_db_url, llm_base_url=None, llm_model=None)
    args = build_parser().parse_args(
        ["ask", "--course", "sql-basics", "--topic", "2.1", "--json",
         "what is the difference between count(*) and count(price)?"])
    assert await authoring.cmd_ask(settings, args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["topic"] == "Aggregate functions" and out["mode"] == "extractive"
    numbers = {p["n"] for p in out["passages"]}
    assert out["citations"] and {c["n"] for c in out["citations"]} <= numbers
    first = out["passages"][0]
    assert first["topic_title"] == "Aggregate functions" and "count" in first["content"]
    assert first["similarity"] >= out["min_similarity"] and first["vector_rank"] is not None
    assert {"score", "fts_rank", "chunk_id", "heading"} <= set(first)


async def test_ask_text_and_bad_arguments(
    demo_db_url: str, embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(database_url=demo_db_url, llm_base_url=None, llm_model=None)
    parse = build_parser().parse_args
    assert await authoring.cmd_ask(settings, parse(
        ["ask", "--course", "sql-basics", "how do I undo changes before commit?"])) == 0
    out = capsys.readouterr().out
    assert "From the course (excerpts)" in out and "Transactions (module 3)" in out
    assert await authoring.cmd_ask(settings, parse(
        ["ask", "--course", "sql-basics", "best pizza in Rome?"])) == 0
    assert "I don't know" in capsys.readouterr().out
    assert await authoring.cmd_ask(settings, parse(["ask", "--course", "nope", "q"])) == 1
    assert await authoring.cmd_ask(settings, parse(
        ["ask", "--course", "sql-basics", "--topic", "zzz", "q"])) == 1
    assert "matches no topic" in capsys.readouterr().err


async def test_import_course_embeds_passages(db_url: str, embedder,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings(database_url=db_url)
    args = build_parser().parse_args(["import-course", str(DEMO)])
    assert await cmd_import(settings, args) == 0
    out = capsys.readouterr().out
    assert "course 'sql-basics' created" in out and "embedded, 0 removed)" in out
    assert await cmd_import(settings, args) == 0
    assert "(0 embedded, 0 removed)" in capsys.readouterr().out


async def test_ask_in_filipino_answers_from_the_filipino_passages(
    demo_db_url: str, embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(database_url=demo_db_url, llm_base_url=None, llm_model=None)
    args = build_parser().parse_args(
        ["ask", "--course", "sql-basics", "--lang", "fil", "--json",
         "Bakit walang natutugma kailanman ang = NULL?"])
    assert await authoring.cmd_ask(settings, args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mode"] == "extractive"
    first = out["passages"][0]
    assert first["chunk_id"].endswith("@fil")
    assert first["topic_title"] == "Pagsala ng mga row gamit ang WHERE"
    # the extractive answer is the passages' own sentences: Filipino
    assert "NULL" in out["answer"] and " ang " in out["answer"], out["answer"]
    assert "silently matches nothing" not in out["answer"]
