"""Courses in several languages: translated files are checked against their originals (file
and line on every refusal, nothing imported), the shipped demo course imports in English and
Filipino, and a re-import replaces the translations as a whole."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import asyncpg
import pytest

from content.course_format import CourseError, load_course
from tests.helpers import DEMO, copy_demo, import_path

FIL_MD = "01-asking-questions.fil.md"
FIL_TOML = "01-asking-questions.fil.toml"


def problems_of(path: Path) -> list[str]:
    with pytest.raises(CourseError) as err:
        load_course(path)
    return [str(p) for p in err.value.problems]


async def refused_and_nothing_imported(pool: asyncpg.Pool, root: Path) -> list[str]:
    with pytest.raises(CourseError) as err:
        await import_path(pool, root)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM courses") == 0
        assert await conn.fetchval("SELECT count(*) FROM topic_translations") == 0
        assert await conn.fetchval("SELECT count(*) FROM course_chunks") == 0
    return [str(p) for p in err.value.problems]


def _drop_last_topic(md: Path) -> int:
    """Cut the translation's last `##` topic; returns the line of the topic now last."""
    text = md.read_text()
    cut = text.rindex("\n## ")
    md.write_text(text[:cut + 1])
    return [i for i, line in enumerate(text[:cut + 1].splitlines(), 1)
            if line.startswith("## ")][-1]


async def test_a_translation_missing_a_topic_is_refused_with_file_and_line(
    pool: asyncpg.Pool, tmp_path: Path,
) -> None:
    root = copy_demo(tmp_path)
    line = _drop_last_topic(root / FIL_MD)
    found = await refused_and_nothing_imported(pool, root)
    assert any(p.startswith(f"{FIL_MD}:{line}: has 3 topics where 01-asking-questions.md "
                            "has 4") and "'Pattern matching and expressions'" in p
               for p in found), found


async def test_topics_out_of_order_are_refused(pool: asyncpg.Pool, tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    md = root / FIL_MD
    head, *topics = re.split(r"(?m)^(?=## )", md.read_text())
    topics[1], topics[2] = topics[2], topics[1]  # WHERE and ORDER BY swapped
    md.write_text(head + "".join(topics))
    line = [i for i, t in enumerate(md.read_text().splitlines(), 1) if t.startswith("## ")][1]
    found = problems_of(root)
    assert any(p.startswith(f"{FIL_MD}:{line}: topic 2 ") and "same order" in p
               for p in found), found


async def test_a_quiz_with_another_number_of_questions_or_options_is_refused(
    pool: asyncpg.Pool, tmp_path: Path,
) -> None:
    root = copy_demo(tmp_path)
    toml = root / FIL_TOML
    text = toml.read_text()
    # one question fewer
    first = text.split("[[quiz]]", 2)[1]
    toml.write_text(text.replace("[[quiz]]" + first, "", 1))
    found = await refused_and_nothing_imported(pool, root)
    assert any(re.match(rf"{re.escape(FIL_TOML)}:\d+: has 3 \[\[quiz\]\] where "
                        r"01-asking-questions.toml has 4", p) for p in found), found

    # an option fewer in the second question (line of its [[quiz]] header)
    toml.write_text(text.replace(
        '  { text = "Kailangang naka-quotes ang NULL, bilang \'NULL\'." },\n', "", 1))
    line = [i for i, t in enumerate(toml.read_text().splitlines(), 1)
            if t.startswith("[[quiz]]")][1]
    found = await refused_and_nothing_imported(pool, root)
    assert f"{FIL_TOML}:{line}: question 2 has 2 options where 01-asking-questions.toml " \
           "has 3" in found, found

    # the correct answer moved
    toml.write_text(text.replace('{ text = "title ILIKE \'%war%\'", correct = true }',
                                 '{ text = "title ILIKE \'%war%\'" }', 1)
                    .replace('{ text = "title LIKE \'%war%\'" }',
                             '{ text = "title LIKE \'%war%\'", correct = true }', 1))
    found = problems_of(root)
    assert any(p.startswith(f"{FIL_TOML}:") and "question 4: the correct answer must be "
               "option 1" in p for p in found), found


async def test_cold_calls_and_suggestions_must_match_too(tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    toml = root / FIL_TOML
    text = toml.read_text()
    cut = text.index("[[cold_calls]]")
    toml.write_text(text[:cut] + text[text.index("[[cold_calls]]", cut + 1):])
    found = problems_of(root)
    assert any(re.match(rf"{re.escape(FIL_TOML)}:\d+: has 7 \[\[cold_calls\]\] where .* has 8",
                        p) for p in found), found
    toml.write_text(text.replace('follow_ups = ["Bakit 3 ang sagot ng 95 / 30?", ', "follow_ups"
                                 ' = [', 1))
    found = problems_of(root)
    assert any("has 1 follow_ups where 01-asking-questions.toml has 2" in p for p in found)


async def test_a_language_the_course_does_not_declare_is_refused(tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    shutil.copy(root / FIL_MD, root / "01-asking-questions.es.md")
    found = problems_of(root)
    assert "01-asking-questions.es.md: is in 'es', which course.toml doesn't declare " \
           "(languages = ['en', 'fil'])" in found, found
    manifest = root / "course.toml"
    manifest.write_text(manifest.read_text().replace('languages = ["en", "fil"]\n', ""))
    (root / "01-asking-questions.es.md").unlink()
    found = problems_of(root)
    assert any(p.startswith(f"{FIL_MD}: is in 'fil', which course.toml doesn't declare")
               for p in found), found


async def test_the_demo_course_imports_in_english_and_filipino(pool: asyncpg.Pool,
                                                               tmp_path: Path) -> None:
    report = await import_path(pool, DEMO)
    assert report.translations == {"fil": 4}
    async with pool.acquire() as conn:
        langs = await conn.fetch(
            "SELECT language FROM course_languages WHERE course_id = $1 ORDER BY position",
            report.course_id)
        assert [r[0] for r in langs] == ["en", "fil"]
        counts = await conn.fetchrow(
            """
            SELECT (SELECT count(*) FROM topic_translations WHERE language = 'fil') AS topics,
                   (SELECT count(*) FROM quiz_question_translations) AS questions,
                   (SELECT count(*) FROM quiz_option_translations) AS options,
                   (SELECT count(*) FROM cold_call_prompt_translations) AS cold_calls,
                   (SELECT count(*) FROM suggestion_translations) AS suggestions,
                   (SELECT count(*) FROM course_chunks WHERE language = 'fil') AS fil_chunks,
                   (SELECT count(*) FROM course_chunks WHERE language = 'en') AS en_chunks
            """)
        assert (counts["topics"], counts["questions"], counts["options"],
                counts["cold_calls"]) == (4, 4, 15, 8)
        assert counts["suggestions"] == 8 + 15  # starters and their follow-ups
        assert counts["fil_chunks"] > 10 and counts["en_chunks"] > counts["fil_chunks"]
        title = await conn.fetchval(
            "SELECT tt.title FROM topic_translations tt JOIN topics t ON t.id = tt.topic_id "
            "WHERE t.key = 'filtering-rows-with-where'")
        assert title == "Pagsala ng mga row gamit ang WHERE"
        # The English statistics don't see the Filipino passages (English ranking unchanged).
        stats = dict(await conn.fetch(
            "SELECT language, chunks FROM course_text_stats WHERE course_id = $1",
            report.course_id))
        assert stats == {"en": counts["en_chunks"], "fil": counts["fil_chunks"]}

    # Re-import without Filipino: its translations and passages go, nothing else changes.
    root = copy_demo(tmp_path)
    (root / FIL_MD).unlink()
    (root / FIL_TOML).unlink()
    (root / "course.fil.toml").unlink()
    manifest = root / "course.toml"
    manifest.write_text(manifest.read_text().replace('languages = ["en", "fil"]\n', ""))
    again = await import_path(pool, root)
    assert again.course_id == report.course_id and again.translations == {}
    async with pool.acquire() as conn:
        for table in ("course_translations", "topic_translations", "quiz_question_translations",
                      "quiz_option_translations", "cold_call_prompt_translations",
                      "suggestion_translations"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
        assert await conn.fetchval(
            "SELECT count(*) FROM course_chunks WHERE language = 'fil'") == 0
        assert await conn.fetchval(
            "SELECT count(*) FROM course_chunks WHERE language = 'en'") == counts["en_chunks"]
        # and back again: the translations return whole
    await import_path(pool, DEMO)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM quiz_option_translations") == 15


async def test_the_database_refuses_a_translation_in_an_undeclared_language(
    pool: asyncpg.Pool,
) -> None:
    await import_path(pool, DEMO)
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute(
                """
                INSERT INTO topic_translations (topic_id, course_id, language, title,
                                                module_title, body)
                SELECT id, course_id, 'es', 'x', 'y', 'z' FROM topics LIMIT 1
                """)


async def test_the_course_title_and_description_are_stored_per_language_with_fallback(
    pool: asyncpg.Pool, tmp_path: Path,
) -> None:
    from storage import courses

    report = await import_path(pool, DEMO)
    async with pool.acquire() as conn:
        fil = await courses.get_by_slug(conn, "sql-basics", "fil")
        eng = await courses.get_by_slug(conn, "sql-basics", "en")
        assert fil is not None and eng is not None
        assert fil.title == "SQL mula sa Simula" and eng.title == "SQL from Zero"
        assert fil.description.startswith("Isang hands-on na pagpapakilala sa SQL")
        assert eng.description.startswith("A hands-on introduction to SQL")
        # no language, or one the course doesn't have: the default language's
        assert (await courses.get_by_slug(conn, "sql-basics")).title == "SQL from Zero"
        assert await courses.title_of(conn, report.course_id, "es") == "SQL from Zero"
        assert [c.title for c in await courses.list_courses(conn, "fil")] == [fil.title]

    # A translation of the title only: the description falls back on its own.
    root = copy_demo(tmp_path)
    (root / "course.fil.toml").write_text('title = "SQL mula sa Simula"\n')
    await import_path(pool, root)
    async with pool.acquire() as conn:
        fil = await courses.get_published(conn, slug="sql-basics", language="fil")
        assert fil is not None and fil.title == "SQL mula sa Simula"
        assert fil.description.startswith("A hands-on introduction to SQL")
    # Dropping Filipino from course.toml drops the course's Filipino title with it.
    for name in ("course.fil.toml", FIL_MD, FIL_TOML):
        (root / name).unlink()
    manifest = root / "course.toml"
    manifest.write_text(manifest.read_text().replace('languages = ["en", "fil"]\n', ""))
    await import_path(pool, root)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM course_translations") == 0
        assert await courses.title_of(conn, report.course_id, "fil") == "SQL from Zero"


async def test_a_broken_course_translation_is_refused_with_file_and_line(
    tmp_path: Path,
) -> None:
    root = copy_demo(tmp_path)
    (root / "course.fil.toml").write_text(
        '# Filipino\ntitle = "  "\nslug = "sql-fil"\ncolour = "blue"\n')
    (root / "course.en.toml").write_text('title = "SQL"\n')
    (root / "course.es.toml").write_text('title = "SQL desde cero"\n')
    found = problems_of(root)
    assert "course.fil.toml:2: 'title' must be text, and not empty" in found, found
    assert ("course.fil.toml:3: key 'slug' can't be translated (set in the original); a "
            "translation holds description, title") in found, found
    assert ("course.fil.toml:4: key 'colour' can't be translated (unknown); a translation "
            "holds description, title") in found, found
    assert ("course.en.toml: 'en' is the course's default language: its text belongs in "
            "course.toml") in found, found
    assert ("course.es.toml: is in 'es', which course.toml doesn't declare (languages = "
            "['en', 'fil'])") in found, found
    assert not any("has no matching module .md file" in p for p in found), found


def test_a_problem_renders_through_any_gettext_and_stays_english_without_one() -> None:
    from content.course_format import Problem

    p = Problem("01-a.md", 7, "topic '{topic}' has no text", {"topic": "Joins"})
    assert str(p) == p.render() == "01-a.md:7: topic 'Joins' has no text"
    assert p.render(lambda m: "walang text ang topic na '{topic}'") == \
        "01-a.md:7: walang text ang topic na 'Joins'"
    # a translation whose placeholders don't fit never breaks the report: English instead
    assert p.render(lambda m: "walang text ang {paksa}") == str(p)
    # content/ renders nothing itself and imports nothing of the bot's
    source = (DEMO.parents[1] / "content" / "course_format.py").read_text()
    assert "aiogram" not in source and "from bot" not in source
