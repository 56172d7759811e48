"""Migrations: idempotent, safe under concurrency, and refusing edited history."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage import migrate, pg

pytestmark = pytest.mark.asyncio


async def _tables(url: str) -> set[str]:
    conn = await pg.connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r[0] for r in rows}
    finally:
        await conn.close()


async def test_migrating_twice_is_a_noop(empty_db_url: str) -> None:
    conn = await pg.connect(empty_db_url)
    try:
        first = await migrate.migrate(conn)
        second = await migrate.migrate(conn)
    finally:
        await conn.close()
    assert first == [m.path.name for m in migrate.discover()]
    assert second == []
    tables = await _tables(empty_db_url)
    for expected in (
        "users",
        "course_users",
        "journey_deliveries",
        "course_chunks",
        "cold_call_stars",
        "user_badges",
        "processed_updates",
    ):
        assert expected in tables


async def test_concurrent_migrations_leave_one_schema(empty_db_url: str) -> None:
    conns = [await pg.connect(empty_db_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate.migrate(c) for c in conns))
        count = await conns[0].fetchval("SELECT count(*) FROM schema_migrations")
    finally:
        for c in conns:
            await c.close()
    applied = [r for r in results if r]
    assert len(applied) == 1, results  # exactly one process did the work
    assert count == len(migrate.discover())


async def test_changed_applied_file_is_refused(empty_db_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(migrate.default_migrations_dir(), folder)
    conn = await pg.connect(empty_db_url)
    try:
        await migrate.migrate(conn, folder)
        first = sorted(folder.glob("*.sql"))[0]
        first.write_text(first.read_text() + "\n-- edited\n")
        with pytest.raises(migrate.MigrationError, match="changed after it was applied"):
            await migrate.migrate(conn, folder)
    finally:
        await conn.close()


async def test_failed_migration_applies_nothing(empty_db_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_ok.sql").write_text("CREATE TABLE ok_table (id int);")
    (folder / "0002_bad.sql").write_text("CREATE TABLE half (id int); SELECT * FROM nowhere;")
    conn = await pg.connect(empty_db_url)
    try:
        with pytest.raises(migrate.MigrationError, match=r"0002_bad\.sql failed"):
            await migrate.migrate(conn, folder)
        tables = {
            r[0]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
    finally:
        await conn.close()
    assert "ok_table" in tables and "half" not in tables


async def test_schedule_migration_keeps_every_course_users_schedule(
    empty_db_url: str, tmp_path: Path
) -> None:
    """0290 moves `course_users.next_due_at` into `course_user_schedule`: an active learner
    keeps the instant, a course-paused one keeps it paused, and a completed, left or lapsed
    one (never claimed) or one with no schedule gets no row; the column is gone."""
    from tests import factories as f

    folder = tmp_path / "migrations"
    shutil.copytree(migrate.default_migrations_dir(), folder)
    later = sorted(p for p in folder.glob("*.sql") if int(p.name[:4]) >= 290)
    held = tmp_path / "held"
    held.mkdir()
    for p in later:
        p.rename(held / p.name)
    due = datetime(2026, 6, 1, 8, tzinfo=UTC)
    conn = await pg.connect(empty_db_url)
    try:
        await migrate.migrate(conn, folder)
        course = await f.course(conn)
        states = {
            "active": "", "paused": "paused_at = now()", "completed": "completed_at = now()",
            "left": "left_at = now()", "lapsed": "lapsed_at = now()", "unscheduled": "",
        }
        cus = {}
        for i, (name, state) in enumerate(states.items()):
            u = await f.user(conn)
            cus[name] = await conn.fetchval(
                "INSERT INTO course_users (user_id, course_id, next_due_at) VALUES ($1, $2, $3) "
                "RETURNING id", u, course,
                None if name == "unscheduled" else due + timedelta(minutes=i))
            if state:
                await conn.execute(f"UPDATE course_users SET {state} WHERE id = $1", cus[name])
        for p in later:
            (held / p.name).rename(p)
        applied = await migrate.migrate(conn, folder)
        rows = {r["course_user_id"]: r for r in await conn.fetch(
            "SELECT course_user_id, next_due_at, paused FROM course_user_schedule")}
        column = await conn.fetchval(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_name = 'course_users' AND column_name = 'next_due_at'")
    finally:
        await conn.close()
    assert applied[0] == "0290_course_user_schedule.sql"
    assert set(rows) == {cus["active"], cus["paused"]}
    assert rows[cus["active"]]["next_due_at"] == due and not rows[cus["active"]]["paused"]
    assert rows[cus["paused"]]["next_due_at"] == due + timedelta(minutes=1)
    assert rows[cus["paused"]]["paused"]
    assert column == 0
