"""Course import builds the passages: embedded once, re-embedded only when changed, removed
with their topics, and never half-written."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from content.course_format import load_course
from content.importer import import_source
from rag.embedding import Embedder, EmbeddingError
from tests.helpers import copy_demo, import_path


async def _chunks(pool: asyncpg.Pool) -> dict[str, tuple[str, bool]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT chunk_id, content_hash, embedding IS NOT NULL AS e FROM course_chunks")
    return {r["chunk_id"]: (r["content_hash"], r["e"]) for r in rows}


async def test_reimport_embeds_only_what_changed(pool: asyncpg.Pool, embedder,
                                                 tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    first = await import_source(pool, load_course(root), embedder=embedder)
    before = await _chunks(pool)
    assert first.chunks == len(before) == first.chunks_embedded > 30
    assert all(e for _, e in before.values())

    again = await import_source(pool, load_course(root), embedder=embedder)
    assert again.chunks_embedded == 0 and again.chunks_removed == 0
    assert await _chunks(pool) == before

    module = root / "03-changing-data-safely.md"
    text = module.read_text()
    text = text.replace("## Transactions", "## Transactions\n\nA brand-new opening line.", 1)
    # Drop the "Indexes and EXPLAIN" topic: from its heading up to the next one.
    start = text.index("## Indexes and EXPLAIN")
    text = text[:start] + text[text.index("## Transactions"):]
    module.write_text(text)
    (root / "03-changing-data-safely.toml").unlink()  # it refers to the dropped topic
    edited = await import_source(pool, load_course(root), embedder=embedder)
    after = await _chunks(pool)
    assert "Indexes and EXPLAIN" in edited.topics_archived
    assert not any("/indexes-and-explain/" in c for c in after)
    changed = {c for c in after if after[c] != before.get(c)}
    assert changed and all(c.startswith("sql-basics/transactions/") for c in changed)
    assert edited.chunks_embedded == len(changed)
    assert edited.chunks_removed == sum("/indexes-and-explain/" in c for c in before) \
        + sum(c.startswith("sql-basics/transactions/") for c in before if c not in after)


async def test_import_without_embedder_is_searchable_and_embedded_later(
    pool: asyncpg.Pool, embedder, tmp_path: Path
) -> None:
    root = copy_demo(tmp_path)
    report = await import_path(pool, root)
    assert report.chunks and report.chunks_embedded == 0
    assert not any(e for _, e in (await _chunks(pool)).values())
    later = await import_source(pool, load_course(root), embedder=embedder)
    assert later.chunks_embedded == later.chunks
    assert all(e for _, e in (await _chunks(pool)).values())


async def test_failed_embedding_leaves_the_previous_version(pool: asyncpg.Pool, embedder,
                                                            tmp_path: Path) -> None:
    root = copy_demo(tmp_path)
    await import_source(pool, load_course(root), embedder=embedder)
    before = await _chunks(pool)
    async with pool.acquire() as conn:
        titles = await conn.fetch("SELECT title FROM topics ORDER BY title")
    module = root / "01-asking-questions.md"
    module.write_text(module.read_text().replace("A relational database stores data in tables.",
                                                 "Databases keep data in tables."))
    broken = Embedder("no-such-model-on-this-machine")
    with pytest.raises(EmbeddingError):
        await import_source(pool, load_course(root), embedder=broken)
    assert await _chunks(pool) == before
    async with pool.acquire() as conn:
        assert await conn.fetch("SELECT title FROM topics ORDER BY title") == titles
