"""Helpers shared by tests: course folders on disk, seeding learners, a fixed clock."""

from __future__ import annotations

import shutil
import textwrap
from datetime import datetime
from pathlib import Path

import asyncpg

from content.course_format import load_course
from content.importer import import_source
from storage import courses

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "courses" / "sql-basics"


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
