"""Helpers shared by tests: course folders on disk, seeding learners, a fixed clock."""

from __future__ import annotations

import io
import shutil
import textwrap
import zipfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from content.course_format import load_course
from content.importer import import_source
from storage import courses

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "courses" / "sql-basics"


async def atomically(conn: asyncpg.Connection, step: Callable[..., Awaitable[T]],
                     *args: Any, **kwargs: Any) -> T:
    """`step(conn, ...)` in a transaction of its own, as a use case's `db.tx()` runs it:
    storage functions of several statements refuse an autocommit connection."""
    async with conn.transaction():
        return await step(conn, *args, **kwargs)


def copy_demo(tmp_path: Path) -> Path:
    target = tmp_path / "sql-basics"
    shutil.copytree(DEMO, target)
    return target


def write_course(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


def tiny_course(root: Path, slug: str = "tiny", topics: int = 3, modules: int = 1) -> Path:
    files = {"course.toml": f'slug = "{slug}"\ntitle = "Tiny {slug}"\n'}
    for m in range(1, modules + 1):
        body = f"# Module {m}\n\n" + "\n".join(
            f"## Topic {m}.{t}\n\nText of topic {m}.{t} about subject {m * 10 + t}.\n"
            for t in range(1, topics + 1)
        )
        files[f"{m:02d}-module.md"] = body
    return write_course(root, files)


async def import_path(pool: asyncpg.Pool, path: Path,
                      now: datetime | None = None) -> courses.ImportReport:
    return await import_source(pool, load_course(path), now=now)


class Clock:
    """A settable clock handed to the dispatcher and workers."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# Learners seeded straight into the database, for tests about many of them at once.
ENROLLED_BASE = 6_000_000
DUE_BASE = 7_100_000
DUE_AT = datetime(2026, 6, 1, 9, 0, tzinfo=UTC) - timedelta(minutes=5)


async def seed_enrolled(pool: asyncpg.Pool, course_id, n: int, base: int = ENROLLED_BASE) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            """
            WITH u AS (INSERT INTO users (telegram_id, display_name)
                       SELECT $3 + g, 'L' || g FROM generate_series(1, $2) g RETURNING id)
            INSERT INTO enrollments (user_id, course_id) SELECT id, $1 FROM u
            """,
            course_id, n, base,
        )


def daytime_zone(now: datetime) -> str:
    """A time zone where `now` is around noon: tests that run on the real clock (worker
    processes) seed their learners there, so quiet hours (22:00-07:00 local) never hold
    their cards back, whenever the suite runs. (Etc/GMT's signs are inverted: UTC+5 is
    Etc/GMT-5.)"""
    offset = 12 - now.astimezone(UTC).hour  # -11 .. +12, all of them real zones
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


async def seed_learners(pool: asyncpg.Pool, course_id, n: int, base: int = DUE_BASE,
                        due: datetime = DUE_AT, timezone: str = "UTC") -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            """
            WITH u AS (INSERT INTO users (telegram_id, display_name, timezone)
                       SELECT $3 + g, 'L' || g, $5 FROM generate_series(1, $2) g RETURNING id),
                 cu AS (INSERT INTO course_users (user_id, course_id) SELECT id, $1 FROM u
                        RETURNING id)
            INSERT INTO course_user_schedule (course_user_id, next_due_at)
            SELECT id, $4 FROM cu
            """,
            course_id, n, base, due, timezone,
        )


def max_in_one_second(times: list[float]) -> int:
    """The most calls that started within any one-second window."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def quiz_course(root: Path, cooldown: int = 60) -> Path:
    quiz_toml = (
        '[[topics]]\ntitle = "One"\ndifficulty = "hard"\n\n'
        '[[quiz]]\nquestion = "2+2?"\noptions = [{text = "4", correct = true}, {text = "5"}]\n\n'
        '[[quiz]]\nquestion = "3+3?"\noptions = [{text = "7"}, {text = "6", correct = true}]\n'
    )
    return write_course(root, {
        "course.toml": f'slug = "q"\ntitle = "Q"\npass_mark = 100\n'
                       f'quiz_cooldown_minutes = {cooldown}\n',
        "01-a.md": "# Module A\n\n## One\n\nFirst.\n\n## Two\n\nSecond.\n",
        "01-a.toml": quiz_toml,
        "02-b.md": "# Module B\n\n## Three\n\nThird.\n",
    })


def zip_course(root: Path) -> bytes:
    """A course folder as the .zip an admin sends to /import (inside one top folder)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for path in root.rglob("*"):
            z.write(path, f"course/{path.relative_to(root)}")
    return buf.getvalue()
