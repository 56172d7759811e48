"""Shared fixtures: one embedded PostgreSQL (with pgvector) per test session, and a fresh
database cloned from a migrated template for every test that asks for one."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from storage import db, embedded, migrate

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
    mconn = await db.connect(url_for(admin_url, TEMPLATE))
    try:
        await migrate.migrate(mconn)
    finally:
        await mconn.close()
    return TEMPLATE


@pytest.fixture
async def db_url(admin_url: str, template_db: str) -> AsyncIterator[str]:
    """A brand-new, fully migrated database for this test alone."""
    name = "t_" + uuid.uuid4().hex[:16]
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"CREATE DATABASE {name} TEMPLATE {template_db}")
    finally:
        await conn.close()
    yield url_for(admin_url, name)
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


@pytest.fixture
async def empty_db_url(admin_url: str) -> AsyncIterator[str]:
    """A database with nothing in it (for migration tests)."""
    name = "e_" + uuid.uuid4().hex[:16]
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    yield url_for(admin_url, name)
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await db.create_pool(db_url, max_size=8)
    yield p
    await p.close()
