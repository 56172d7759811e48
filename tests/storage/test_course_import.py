"""Course files: validation (a test per kind of problem), import, and in-place re-import."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from content.course_format import CourseError, load_course, load_course_zip
from storage import enrollments
from storage.day import today
from storage.done import mark_done
from tests import factories as f
from tests.helpers import DEMO, atomically, copy_demo, import_path, tiny_course, write_course

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def problems_of(path: Path) -> list[str]:
    with pytest.raises(CourseError) as err:
        load_course(path)
    return [str(p) for p in err.value.problems]


def test_demo_course_is_valid() -> None:
    course = load_course(DEMO)
    assert len(course.modules) >= 3 and len(course.topics) >= 9
    assert all(m.quiz for m in course.modules)
    assert sum(len(m.cold_calls) for m in course.modules) >= 9
    assert sum(len(m.suggestions) for m in course.modules) >= 9
    priorities = [t.priority for t in course.topics]
    assert priorities == sorted(priorities) and len(set(priorities)) == len(priorities)


def test_missing_manifest(tmp_path: Path) -> None:
    root = write_course(tmp_path / "c", {"01-a.md": "# A\n\n## T\n\nbody\n"})
    assert any("course.toml: missing" in p for p in problems_of(root))


def test_invalid_toml_reports_line(tmp_path: Path) -> None:
    root = tiny_course(tmp_path / "c")
    (root / "course.toml").write_text('slug = "tiny"\ntitle = "T"\ndescription = "unclosed\n')
    found = problems_of(root)
    assert any(p.startswith("course.toml:3: invalid TOML") for p in found), found


def test_bad_slug_and_missing_title(tmp_path: Path) -> None:
    root = tiny_course(tmp_path / "c")
    (root / "course.toml").write_text('slug = "Bad Slug!"\n')
    found = problems_of(root)
    assert any("'slug'" in p for p in found) and any("'title'" in p for p in found)


def test_empty_topic_and_duplicate_titles(tmp_path: Path) -> None:
    root = write_course(tmp_path / "c", {
        "course.toml": 'slug = "c"\ntitle = "C"\n',
        "01-a.md": "# A\n\n## One\n\n## Two\n\ntext\n\n## Two\n\nmore\n",
    })
    found = problems_of(root)
    assert "01-a.md:3: topic 'One' has no text" in found
    assert any(p.startswith("01-a.md:9: topic 'Two' repeats line 5") for p in found), found


def test_module_file_without_title_or_topics(tmp_path: Path) -> None:
    root = write_course(tmp_path / "c", {
        "course.toml": 'slug = "c"\ntitle = "C"\n',
        "01-a.md": "Some text before any heading\n",
        "02-b.md": "# B\n\nno topics here\n",
    })
    found = problems_of(root)
    assert any(p.startswith("01-a.md:1: the file must start with '# Module title'") for p in found)
    assert any("02-b.md: no topics" in p for p in found)


def test_bad_quiz_and_unknown_topic_references(tmp_path: Path) -> None:
    root = tiny_course(tmp_path / "c")
    (root / "01-module.toml").write_text(
        '[[quiz]]\nquestion = "Q?"\noptions = [{text = "a"}, {text = "b"}]\n\n'
        '[[cold_calls]]\ntopic = "Nope"\nprompt = "x"\n\n'
        '[[topics]]\ntitle = "Topic 1.1"\ndifficulty = "extreme"\n'
    )
    found = problems_of(root)
    assert "01-module.toml:1: exactly one option must be correct (found 0)" in found
    assert any(p.startswith("01-module.toml:5: 'topic' = 'Nope' is not a topic") for p in found)
    assert any(p.startswith("01-module.toml:9: 'difficulty'") for p in found)


def test_module_numbering_gap_and_bad_names(tmp_path: Path) -> None:
    root = tiny_course(tmp_path / "c", modules=1)
    (root / "03-later.md").write_text("# Later\n\n## X\n\ntext\n")
    (root / "intro.md").write_text("# Intro\n\n## Y\n\ntext\n")
    found = problems_of(root)
    assert any("without gaps" in p for p in found)
    assert any(p.startswith("intro.md: module files are named") for p in found)


def test_non_utf8_file(tmp_path: Path) -> None:
    root = tiny_course(tmp_path / "c")
    (root / "01-module.md").write_bytes(b"# M\n\n## T\n\n\xff\xfe broken\n")
    assert "01-module.md: is not UTF-8 text" in problems_of(root)


def test_bad_zip_and_zip_with_folder(tmp_path: Path) -> None:
    with pytest.raises(CourseError, match=r"not a valid \.zip"):
        load_course_zip(b"definitely not a zip")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for path in DEMO.rglob("*"):
            z.write(path, f"sql-basics/{path.relative_to(DEMO)}")
    assert load_course_zip(buf.getvalue()).slug == "sql-basics"


async def _counts(conn: asyncpg.Connection) -> dict[str, int]:
    tables = ["courses", "topics", "journeys", "quiz_questions", "quiz_options",
              "cold_call_prompts", "topic_prompt_suggestions", "topic_content_assets"]
    return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in tables}


async def test_import_demo_then_reimport_is_idempotent(pool: asyncpg.Pool) -> None:
    first = await import_path(pool, DEMO)
    assert first.created and len(first.topics_added) == 12
    async with pool.acquire() as conn:
        before = await _counts(conn)
    again = await import_path(pool, DEMO)
    assert not again.created and again.topics_added == [] and again.topics_archived == []
    async with pool.acquire() as conn:
        assert await _counts(conn) == before
        assert before["journeys"] == 12 and before["quiz_questions"] == 12
        # follow-ups hang off their parent suggestion
        assert await conn.fetchval(
            "SELECT count(*) FROM topic_prompt_suggestions WHERE parent_suggestion_id IS NOT NULL"
        ) > 0


async def test_broken_reimport_changes_nothing(pool: asyncpg.Pool, tmp_path: Path) -> None:
    await import_path(pool, DEMO)
    async with pool.acquire() as conn:
        before = await _counts(conn)
    root = copy_demo(tmp_path)
    (root / "02-summaries-and-joins.toml").write_text("[[quiz]]\nquestion = \n")
    with pytest.raises(CourseError):
        await import_path(pool, root)
    async with pool.acquire() as conn:
        assert await _counts(conn) == before


async def test_edited_reimport_keeps_progress_and_archives_removed(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    root = tiny_course(tmp_path / "c", topics=4)
    await import_path(pool, root)
    async with pool.acquire() as conn:
        u = await f.user(conn)
        course_id = await conn.fetchval("SELECT id FROM courses WHERE slug = 'tiny'")
        cu = (await atomically(conn, enrollments.enroll, u, course_id, NOW)).course_user_id
        day1 = await atomically(conn, today, cu, NOW)
        assert day1.view and day1.view.topic_title == "Topic 1.1"
        await atomically(conn, mark_done, day1.view.delivery_id, u, NOW)
        day2 = await atomically(conn, today, cu, NOW.replace(day=5))
        assert day2.view and day2.view.topic_title == "Topic 1.2"
        old_ids = dict(await conn.fetch("SELECT key, id FROM topics"))
    # New topic at the front, topic 1.3 removed, 1.1's text edited.
    md = (root / "01-module.md").read_text()
    md = md.replace("# Module 1\n", "# Module 1\n\n## Warm-up\n\nA new first topic.\n")
    md = md.replace("## Topic 1.3\n\nText of topic 1.3 about subject 13.\n", "")
    md = md.replace("Text of topic 1.1", "Edited text of topic 1.1")
    (root / "01-module.md").write_text(md)
    report = await import_path(pool, root)
    assert report.topics_added == ["Warm-up"] and report.topics_archived == ["Topic 1.3"]
    async with pool.acquire() as conn:
        ids = dict(await conn.fetch("SELECT key, id FROM topics"))
        assert ids["topic-1-1"] == old_ids["topic-1-1"]  # same rows, progress kept
        assert await conn.fetchval(
            "SELECT is_completed FROM topic_progress WHERE topic_id = $1", ids["topic-1-1"]
        )
        archived = await conn.fetchval(
            "SELECT archived_at IS NOT NULL FROM topics WHERE key = 'topic-1-3'"
        )
        assert archived
        assert await conn.fetchval(
            "SELECT count(*) FROM journeys WHERE is_active AND course_id = $1", course_id
        ) == 4
        # The learner stays where they were (Topic 1.2) and gets 1.4 next, not Warm-up or 1.3.
        day3 = await atomically(conn, today, cu, NOW.replace(day=6))
        assert day3.view and day3.view.topic_title == "Topic 1.4"
