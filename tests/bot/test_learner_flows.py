"""Learner flows through the real Dispatcher: bad input gets a clear reply and loses nothing."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import DEMO, import_path, write_course, zip_course
from tests.support.harness import ADMIN, Harness

ADA = 5001
BOB = 5002


async def test_repeated_update_is_handled_once(harness: Harness) -> None:
    update = {
        "update_id": 777,
        "message": {
            "message_id": 1, "date": 1767000000, "text": "/help",
            "chat": {"id": ADA, "type": "private"},
            "from": {"id": ADA, "is_bot": False, "first_name": "Ada"},
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }
    await harness.feed(update)
    await harness.feed(update)
    assert sum("What I can do" in t for t in harness.texts_to(ADA)) == 1


async def test_bad_input_gets_clear_replies(harness: Harness) -> None:
    await import_path(harness.pool, DEMO)
    await harness.say(ADA, "/today")
    await harness.say(ADA, "/frobnicate now")
    await harness.say(ADA, "/timezone Moon/Base")
    await harness.say(ADA, "/timezone")
    await harness.say(ADA, "/time 25")
    await harness.say(ADA, "/start enroll_no-such-course")
    await harness.say(ADA, "y" * 5000)
    texts = harness.texts_to(ADA)
    assert "not enrolled in any course yet" in texts[0]
    assert "I don't know the command /frobnicate" in texts[1]
    assert "“Moon/Base” isn't a time zone" in texts[2]
    assert "/timezone Europe/London" in texts[3] and "UTC" in texts[3]
    assert "hour from 0 to 23" in texts[4]
    assert "couldn't find a course called “no-such-course”" in texts[5]
    assert "too long" in texts[6]
    async with harness.pool.acquire() as conn:
        assert await conn.fetchval("SELECT timezone FROM users WHERE telegram_id=$1", ADA) == "UTC"
        assert await conn.fetchval("SELECT count(*) FROM enrollments") == 0


async def test_someone_elses_done_button_does_nothing(harness: Harness) -> None:
    await import_path(harness.pool, DEMO)
    await harness.say(ADA, "/start enroll_sql-basics")
    journey = next(m for m in harness.emu.messages_to(ADA) if m.buttons)
    await harness.press(BOB, journey, "Done")  # Bob replays Ada's button payload
    assert any("no longer available" in (c.text or "") for c in harness.emu.answered_callbacks)
    async with harness.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM topic_progress WHERE is_completed") == 0
    await harness.press(ADA, journey, "Done")
    async with harness.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM topic_progress WHERE is_completed") == 1


async def test_long_journey_is_split_to_fit_telegram(harness: Harness, tmp_path: Path) -> None:
    paragraph = "Rows and columns make tables; tables make databases. " * 20
    body = "\n\n".join([paragraph] * 12) + "\n\n```sql\n" + "SELECT 1;\n" * 300 + "```\n"
    root = write_course(tmp_path / "long", {
        "course.toml": 'slug = "long"\ntitle = "Long & <Tricky>"\n',
        "01-m.md": f"# M\n\n## Big topic\n\n{body}",
    })
    await import_path(harness.pool, root)
    await harness.say(ADA, "/start enroll_long")
    sent = harness.emu.messages_to(ADA)
    parts = [m for m in sent if "Big topic" in (m.plain_text or "") or "Rows and" in (
        m.plain_text or "") or "SELECT 1;" in (m.plain_text or "")]
    assert len(parts) >= 3
    assert all(len(m.text or "") <= 4096 for m in sent)
    assert parts[-1].buttons and "Done" in parts[-1].buttons[0]["text"]
    assert all(not m.buttons for m in parts[:-1])
    assert any("Long & <Tricky>" in (m.plain_text or "") for m in sent)  # escaped, not parsed


async def test_a_long_catalogue_still_fits_one_courses_message(harness: Harness,
                                                               tmp_path: Path) -> None:
    """Twenty courses with long descriptions: /courses still answers, in one message within
    Telegram's limit, descriptions cut short, every course a button."""
    blurb = "A thorough course about data, queries and the people who write them. " * 40
    for n in range(20):
        await import_path(harness.pool, write_course(tmp_path / f"c{n}", {
            "course.toml": f'slug = "c{n:02d}"\ntitle = "Course {n:02d}"\n'
                           f'description = "{blurb}"\n',
            "01-m.md": "# M\n\n## Topic\n\nSome text.\n",
        }))
    before = len(harness.emu.messages_to(ADA))
    await harness.say(ADA, "/courses")
    (listing,) = harness.emu.messages_to(ADA)[before:]
    assert len(listing.text or "") <= 4096
    assert len(listing.buttons) == 20
    assert "Course 00" in (listing.plain_text or "") and "…" in (listing.plain_text or "")
    assert blurb.strip() not in (listing.plain_text or "")


async def test_pause_resume_and_time(harness: Harness) -> None:
    await harness.say(ADA, "/pause")
    await harness.say(ADA, "/time 6")
    await harness.say(ADA, "/resume")
    texts = harness.texts_to(ADA)
    assert "paused" in texts[0] and "06:00" in texts[1] and "06:00" in texts[2]
    async with harness.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT paused, delivery_hour FROM users WHERE telegram_id=$1",
                                  ADA)
    assert row["paused"] is False and row["delivery_hour"] == 6


async def test_flood_control(harness: Harness) -> None:
    for i in range(45):
        await harness.say(ADA, f"/help {i}")
    texts = harness.texts_to(ADA)
    assert sum("What I can do" in t for t in texts) == 30
    assert sum("very fast" in t for t in texts) == 1


async def _send_zip(harness: Harness, user_id: int, data: bytes, name: str) -> None:
    message = harness.emu.push_document(user_id, name, data, caption="/import")
    message["caption_entities"] = [{"type": "bot_command", "offset": 0, "length": 7}]
    await harness.feed({"update_id": harness._next(), "message": message})


async def test_admin_imports_zip_and_learner_cannot(harness: Harness, tmp_path: Path) -> None:
    good = zip_course(DEMO)
    await _send_zip(harness, ADA, good, "demo.zip")
    assert any("only admins" in t for t in harness.texts_to(ADA))

    broken_root = write_course(tmp_path / "broken", {
        "course.toml": 'slug = "broken"\ntitle = "B"\n',
        "01-m.md": "# M\n\n## Empty topic\n",
    })
    await _send_zip(harness, ADMIN, zip_course(broken_root), "broken.zip")
    await _send_zip(harness, ADMIN, b"not a zip at all", "junk.zip")
    await _send_zip(harness, ADMIN, good, "demo.zip")
    # Each import answers at once with a progress message, then edits it with the result.
    texts = [t for t in harness.texts_to(ADMIN) if not t.startswith("⏳")]
    assert sum("I'll update this message" in t for t in harness.texts_to(ADMIN)) == 3
    assert "not imported" in texts[0] and "01-m.md:3: topic 'Empty topic' has no text" in texts[0]
    assert "not a valid .zip" in texts[1]
    assert "Imported: course 'sql-basics' created" in texts[2]
    async with harness.pool.acquire() as conn:
        slugs = [r[0] for r in await conn.fetch("SELECT slug FROM courses")]
    assert slugs == ["sql-basics"]
