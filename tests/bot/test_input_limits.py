"""Input PostgreSQL or Telegram would choke on is refused up front with a clear reply, and
nothing is changed: time zones only Python knows, oversized or hostile course archives."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import asyncpg
import pytest

from content.course_format import CourseError, load_course_zip
from tests.helpers import DEMO, import_path
from tests.support.harness import Harness

ADA = 9301


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "posix/Europe/Berlin",
                                  "right/UTC", "UTC+3", "../../etc/passwd"])
async def test_zones_postgres_rejects_are_refused(harness: Harness, zone: str) -> None:
    await import_path(harness.pool, DEMO)
    await harness.say(ADA, "/start enroll_sql-basics")
    await harness.say(ADA, f"/timezone {zone}")
    assert "isn't a time zone" in harness.texts_to(ADA)[-1]
    async with harness.pool.acquire() as conn:
        assert await conn.fetchval(
            "SELECT timezone FROM users WHERE telegram_id = $1", ADA) == "UTC"
    await harness.say(ADA, "/today")  # and the learner's day still works
    assert "Done" in str(harness.emu.messages_to(ADA)[-1].reply_markup)


async def test_a_real_zone_is_taken_in_its_canonical_spelling(harness: Harness) -> None:
    await harness.say(ADA, "/timezone europe/berlin")
    assert "Time zone set to Europe/Berlin" in harness.texts_to(ADA)[-1]


async def test_the_database_itself_refuses_unknown_zones(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO users (telegram_id, timezone) VALUES (930199, 'posixrules')")


def _zip(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in entries:
            archive.writestr(info, data)
    out = bytearray(buf.getvalue())
    # zipfile can't write encrypted entries: set the "encrypted" flag bit on the ones marked
    # so, in the local header (offset 6) and the central directory record (offset 8)
    with zipfile.ZipFile(io.BytesIO(bytes(out))) as archive:
        for info in archive.infolist():
            if info.comment == b"encrypt":
                out[info.header_offset + 6] |= 0x1
                central = out.find(b"PK\x01\x02", out.rfind(info.filename.encode()) - 46)
                out[central + 8] |= 0x1
    return bytes(out)


def _demo_entries() -> list[tuple[zipfile.ZipInfo | str, bytes]]:
    return [(f"sql-basics/{p.relative_to(DEMO)}", p.read_bytes())
            for p in sorted(DEMO.rglob("*")) if p.is_file()]


def _encrypted(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.comment = b"encrypt"  # see _zip
    return info


def _symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(("extra", "needle"), [
    ([("../escape.md", b"# x")], "unsafe path"),
    ([("/abs/escape.md", b"# x")], "unsafe path"),
    ([("sql-basics/notes/../extra.txt", b"fine")], None),  # stays inside: imported
    ([(_symlink("sql-basics/link.md"), b"/etc/passwd")], "symbolic link"),
    ([(_encrypted("sql-basics/secret.md"), b"# x")], "is encrypted"),
    ([("sql-basics/big.bin", b"\0" * (101 * 1024 * 1024))], "unpacks to more than 100 MB"),
    ([(f"sql-basics/n{i}.txt", b"") for i in range(2001)], "more than 2000 files"),
    ([("sql-basics/99-latin.md", "# Módulo\n\n## Tópico\n\nTexto.\n".encode("latin-1"))],
     "is not UTF-8 text"),
])
def test_hostile_archives_are_reported(extra: list, needle: str | None, tmp_path: Path) -> None:
    data = _zip(_demo_entries() + extra)
    if needle is None:
        assert load_course_zip(data).slug == "sql-basics"
        return
    with pytest.raises(CourseError) as err:
        load_course_zip(data)
    assert any(needle in str(p) for p in err.value.problems), err.value.problems
    assert not any(tmp_path.parent.glob("escape.md"))


async def test_flood_control_covers_buttons_reactions_and_edits(pool: asyncpg.Pool) -> None:
    """A flooder's taps, reactions and edits are dropped before any database work, like their
    messages: the pool sees no more units of work than the window allows."""
    from tests.bot.cohort_helpers import GROUP, react, rig

    async with rig(pool, flood_messages_per_minute=5) as h:
        await h.say(ADA, "/time")  # 1: the hour keyboard
        keyboard = h.emu.messages_to(ADA)[-1]
        for _ in range(10):  # 2..5 handled, then dropped
            await h.press(ADA, keyboard, "07:00")
        for i in range(5):
            await react(h, ADA, 1000 + i, ["👍"], chat_id=GROUP)
            edit = h.emu.push_message(ADA, f"edited {i}", chat_id=GROUP, chat_type="supergroup")
            await h.feed({"update_id": h._next(), "edited_message": {**edit, "edit_date": 1}})
        async with pool.acquire() as conn:
            handled = await conn.fetchval("SELECT count(*) FROM processed_updates")
        assert handled == 5
        answers = [c.text or "" for c in h.emu.answered_callbacks]
        # four taps handled, one warning, the other five dropped without a word
        assert len(answers) == 5 and sum("very fast" in a for a in answers) == 1
