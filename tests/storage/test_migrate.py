"""Migrations: idempotent, safe under concurrency, and refusing edited history."""

from __future__ import annotations

import asyncio
import shutil
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
