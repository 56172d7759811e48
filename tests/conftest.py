"""Shared fixtures: one embedded PostgreSQL (with pgvector) per test session, and a fresh
database cloned from a migrated template for every test that asks for one."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from storage import embedded, migrate, pg

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = "learnbot_template"


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory):
    data_dir = Path(os.environ.get("LEARNBOT_TEST_PGDIR") or tmp_path_factory.mktemp("pg"))
    server = embedded.start_embedded(data_dir)
    yield server
    # Stop now, while the data folder still exists (pytest may prune old tmp folders before
    # the atexit hook would run).
    server.cleanup()


@pytest.fixture(scope="session")
def admin_url(pg_server) -> str:
    return pg_server.get_uri("postgres")


def url_for(admin: str, database: str) -> str:
    base, _, query = admin.partition("?")
    return base.rsplit("/", 1)[0] + "/" + database + ("?" + query if query else "")


@pytest.fixture(scope="session")
async def template_db(admin_url: str) -> str:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {TEMPLATE}")
    finally:
        await conn.close()
    mconn = await pg.connect(url_for(admin_url, TEMPLATE))
    try:
        await migrate.migrate(mconn)
    finally:
        await mconn.close()
    return TEMPLATE


@asynccontextmanager
async def scratch_database(admin_url: str, prefix: str, template: str | None = None
                           ) -> AsyncIterator[str]:
    """Create a uniquely named database (optionally cloned from `template`), drop it after."""
    name = prefix + uuid.uuid4().hex[:16]
    clause = f" TEMPLATE {template}" if template else ""
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"CREATE DATABASE {name}{clause}")
    finally:
        await conn.close()
    try:
        yield url_for(admin_url, name)
    finally:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await conn.close()


@pytest.fixture
async def db_url(admin_url: str, template_db: str) -> AsyncIterator[str]:
    """A brand-new, fully migrated database for this test alone."""
    async with scratch_database(admin_url, "t_", template_db) as url:
        yield url


@pytest.fixture
async def empty_db_url(admin_url: str) -> AsyncIterator[str]:
    """A database with nothing in it (for migration tests)."""
    async with scratch_database(admin_url, "e_") as url:
        yield url


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await pg.create_pool(db_url, max_size=8)
    yield p
    await p.close()


# --- ask the course: the real embedding model and the demo course, embedded once per session --

DEMO_TEMPLATE = "learnbot_demo_template"


@pytest.fixture(scope="session")
def embedder():
    """all-MiniLM-L6-v2, loaded once per session and only by tests that ask for it (~10 s)."""
    from rag.embedding import get_embedder

    emb = get_embedder()
    emb.load()
    _encode_each_text_once(emb)
    return emb


def _encode_each_text_once(emb) -> None:
    """Many tests import the same course text (the PostgreSQL tutorial alone takes most of a
    minute to embed on this CPU): the session's one embedder (the same process-wide instance
    the bot's own code gets) encodes a text once and returns the model's vector for it after.
    The vectors are the model's; only the repeated work goes."""
    import numpy as np

    from rag.embedding import DIMENSIONS

    encode = emb.encode
    memo: dict[str, np.ndarray] = {}

    def encode_once(texts, progress=None, *, question=False):
        missing = [t for t in dict.fromkeys(texts) if t not in memo]
        if missing:
            memo.update(zip(missing, encode(missing, question=question), strict=True))
        if progress is not None:
            for start in range(0, len(texts), emb.batch_size):
                progress(len(texts[start:start + emb.batch_size]))
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        return np.stack([memo[t] for t in texts])

    emb.encode = encode_once


@pytest.fixture(scope="session")
async def demo_template(admin_url: str, template_db: str, embedder) -> str:
    """A migrated database holding the demo course with every passage embedded; tests get
    clones of it (`demo_db_url`), so the course is chunked and embedded once per session."""
    from content.course_format import load_course
    from content.importer import import_source

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {DEMO_TEMPLATE} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {DEMO_TEMPLATE} TEMPLATE {template_db}")
    finally:
        await conn.close()
    p = await pg.create_pool(url_for(admin_url, DEMO_TEMPLATE), max_size=2)
    try:
        await import_source(p, load_course(ROOT / "courses" / "sql-basics"), embedder=embedder)
    finally:
        await p.close()
    return DEMO_TEMPLATE


@pytest.fixture
async def demo_db_url(admin_url: str, demo_template: str) -> AsyncIterator[str]:
    """A fresh database with the embedded demo course, for this test alone."""
    async with scratch_database(admin_url, "d_", demo_template) as url:
        yield url


@pytest.fixture
async def demo_pool(demo_db_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await pg.create_pool(demo_db_url, max_size=8)
    yield p
    await p.close()


# --- a real Redis for the shared Telegram budget (bot/shared.py) --------------------------

@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """127.0.0.1:6379 when it answers, else a redis-server of this session's own."""
    from tests.support.redis_server import some_redis

    with some_redis() as url:
        yield url


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix for this test alone (runs sharing one Redis don't meet); its keys are
    deleted afterwards."""
    import redis.asyncio

    prefix = "lbtest-" + uuid.uuid4().hex[:12]
    yield prefix
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
