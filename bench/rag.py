"""Ask-the-course benchmark on the embedded PostgreSQL: prints figures, asserts nothing.

1. Ingestion: the PostgreSQL docs corpus (tests/data/corpora/pg-tutorial) through the real
   import path — chunk, embed (all-MiniLM-L6-v2 on CPU), write — in chunks per second.
2. Query latency p50/p95 (embed, vector search, BM25, fusion, and the whole) in a course of
   10k and of 100k chunks, built from that real documentation text: each chunk is a real
   chunk's text with sentences of another real chunk mixed in (so BM25 sees the docs' real
   vocabulary and document frequencies, not a tiny reshuffled one), and its vector a noisy
   blend of the two chunks' real embeddings (so neighbourhoods look like real text).
3. HNSW recall@10 against exact search, per `hnsw.ef_search`, with the vector search latency.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/rag.py [--sizes 10000 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.embedded_db import migrated_database  # noqa: E402
from content.course_format import load_course  # noqa: E402
from content.importer import import_source  # noqa: E402
from rag import retrieval  # noqa: E402
from rag.chunking import split_sentences  # noqa: E402
from rag.embedding import get_embedder  # noqa: E402
from rag.service import RagService  # noqa: E402
from storage import chunks  # noqa: E402
from storage.uow import Database  # noqa: E402

DOCS = ROOT / "tests" / "data" / "corpora" / "pg-tutorial"
QUESTIONS = ROOT / "tests" / "data" / "pg_questions.toml"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def bulk_course(pool, slug: str, n: int, base: np.ndarray, texts: list[str],
                      rng: np.random.Generator) -> uuid.UUID:
    async with pool.acquire() as conn:
        course_id = await conn.fetchval(
            "INSERT INTO courses (slug, title) VALUES ($1, $1) RETURNING id", slug)
        batch = 5000
        for start in range(0, n, batch):
            size = min(batch, n - start)
            a = rng.integers(0, len(base), size)
            b = rng.integers(0, len(base), size)
            w = rng.uniform(0.3, 0.7, (size, 1)).astype(np.float32)
            vecs = w * base[a] + (1 - w) * base[b] + rng.normal(0, 0.04, (size, base.shape[1]))
            vecs = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)
            records = []
            for i in range(size):
                own = split_sentences(" ".join(texts[a[i]].split()))
                other = split_sentences(" ".join(texts[b[i]].split()))
                mixed = own[:max(1, len(own) // 2)] + other[len(other) // 2:]
                records.append((f"{slug}/t{(start + i) // 8}/{(start + i) % 8}", course_id, 1,
                                (start + i) % 8, f"Docs › Topic {(start + i) // 8}",
                                " ".join(mixed), "h", 120, vecs[i]))
            await conn.copy_records_to_table(
                "course_chunks", records=records,
                columns=["chunk_id", "course_id", "module_no", "ordinal", "heading", "content",
                         "content_hash", "token_count", "embedding"],
            )
        # Eight chunks a topic, as the ids say: the fused ranking reads each candidate topic's
        # and sub-section's mean embedding (rag.retrieval.SECTION_WEIGHT), so topics must exist.
        await conn.execute(
            """
            INSERT INTO topics (course_id, key, module_no, topic_number, title)
            SELECT $1, 't' || g, 1, g + 1, 'Topic ' || g FROM generate_series(0, ($2 - 1) / 8) g
            """, course_id, n)
        await conn.execute(
            """
            UPDATE course_chunks ch SET topic_id = t.id FROM topics t
            WHERE ch.course_id = $1 AND t.course_id = $1 AND t.key = split_part(ch.chunk_id, '/', 2)
            """, course_id, timeout=600)  # 100k rows on a busy machine outlast the pool's 60 s
    return course_id


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ef", type=int, nargs="+", default=[40, 100, 200, 400])
    args = parser.parse_args()

    import tomllib

    rng = random.Random(7)
    nrng = np.random.default_rng(7)
    pairs = tomllib.loads(QUESTIONS.read_text())["q"]
    fillers = ["please", "quickly", "in postgres", "for my homework", "again", "with an example",
               "step by step", "for the library db", "in sql", "briefly"]
    queries = [f"{p['question']} {rng.choice(fillers)}"
               for i, p in enumerate(rng.choices(pairs, k=args.queries))]

    embedder = get_embedder()
    t0 = time.perf_counter()
    embedder.load()
    print(f"model load: {time.perf_counter() - t0:.1f} s")

    async with migrated_database("learnbot-bench-", "bench", max_size=4) as pool:
        db = Database(pool)
        # 1. ingestion through the real import path
        src = load_course(DOCS)
        t0 = time.perf_counter()
        report = await import_source(pool, src, embedder=embedder)
        took = time.perf_counter() - t0
        print(f"\ningestion: {report.chunks} chunks in {took:.1f} s = "
              f"{report.chunks / took:.1f} chunks/s (chunk + embed + write)")
        t0 = time.perf_counter()
        again = await import_source(pool, src, embedder=embedder)
        took = time.perf_counter() - t0
        print(f"re-import unchanged: {again.chunks_embedded} re-embedded, {took:.2f} s")
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT content, embedding FROM course_chunks WHERE embedding IS NOT NULL")
        base = np.stack([r["embedding"].to_numpy() for r in rows]).astype(np.float32)
        texts = [r["content"] for r in rows]

        # 2 + 3. latency and recall per corpus size
        async with pool.acquire() as conn:
            await conn.execute("DROP INDEX course_chunks_embedding_hnsw")
        courses = {}
        for size in args.sizes:
            t0 = time.perf_counter()
            courses[size] = await bulk_course(pool, f"bench-{size}", size, base, texts,
                                              nrng)
            print(f"\nloaded {size} synthetic chunks in {time.perf_counter() - t0:.1f} s")
        async with pool.acquire() as conn:
            await conn.execute("SET maintenance_work_mem = '1GB'")
            await conn.execute("SET max_parallel_maintenance_workers = 1")
            t0 = time.perf_counter()
            await conn.execute(
                "CREATE INDEX course_chunks_embedding_hnsw ON course_chunks "
                "USING hnsw (embedding vector_cosine_ops) WITH (m = 24, ef_construction = 128)",
                timeout=1800)
            total = await conn.fetchval("SELECT count(*) FROM course_chunks")
            print(f"HNSW build over {total} chunks: {time.perf_counter() - t0:.1f} s")
            await conn.execute("ANALYZE course_chunks")

        qvecs = embedder.encode(queries)  # warm-up for the timed per-query encodes below
        for size, course_id in courses.items():
            async with pool.acquire() as conn:
                exactly = chunks.scan_exactly(*await chunks.course_size(conn, course_id))
            print(f"\n== course of {size} chunks, {len(queries)} queries; vector search "
                  f"{'scans the course exactly' if exactly else 'uses HNSW'} ==")
            embed_ms, search_ms, total_ms = [], [], []
            steps: dict[str, list[float]] = {"vector": [], "fts": [], "context": [], "fuse": []}
            async with pool.acquire() as conn:
                for q in queries:
                    t0 = time.perf_counter()
                    vec = embedder.encode([q], question=True)[0]  # as the bot encodes
                    t1 = time.perf_counter()
                    timings: dict[str, float] = {}
                    await retrieval.retrieve(conn, course_id, q, vec, floor=0.0,
                                             timings=timings)
                    t2 = time.perf_counter()
                    embed_ms.append((t1 - t0) * 1000)
                    search_ms.append((t2 - t1) * 1000)
                    total_ms.append((t2 - t0) * 1000)
                    for step, ms in timings.items():
                        steps[step].append(ms)
            for name, values in (("embed", embed_ms), *(
                    (f"  {step} search" if step != "fuse" else "  fuse", v)
                    for step, v in steps.items()), ("hybrid search", search_ms),
                    ("embed + search", total_ms)):
                print(f"  {name:15s} p50 {pct(values, 50):7.1f} ms   "
                      f"p95 {pct(values, 95):7.1f} ms   mean {statistics.mean(values):6.1f} ms")
            # The baseline for the one-thread question encoding: torch's default team.
            default_ms = []
            for q in queries:
                t0 = time.perf_counter()
                embedder.encode([q])
                default_ms.append((time.perf_counter() - t0) * 1000)
            print(f"  {'embed, all cores':15s} p50 {pct(default_ms, 50):7.1f} ms   "
                  f"p95 {pct(default_ms, 95):7.1f} ms   (baseline for the embed row: "
                  f"one thread, as the bot; ratio p95 "
                  f"{pct(default_ms, 95) / pct(embed_ms, 95):.1f}x)")
            # The bot's path (RagService.retrieve on the pool): BM25 on one connection
            # while the question is embedded, then the vector side on another. The query
            # cache is off so every question is encoded, as in the rows above.
            service, cache = RagService(embedder), embedder.cache_size
            embedder.cache_size = 0
            overlapped = []
            for q in queries:
                t0 = time.perf_counter()
                await service.retrieve(db, course_id, q, floor=0.0)
                overlapped.append((time.perf_counter() - t0) * 1000)
            embedder.cache_size = cache
            print(f"  {'embed ∥ BM25, then vector (the bot)':15s} p50 "
                  f"{pct(overlapped, 50):7.1f} ms   p95 {pct(overlapped, 95):7.1f} ms   "
                  f"mean {statistics.mean(overlapped):6.1f} ms")
            async with pool.acquire() as conn:
                exact, exact_ms = [], []
                for vec in qvecs:
                    t0 = time.perf_counter()
                    async with conn.transaction():  # as in retrieval: settings are local
                        hits = await chunks.vector_search(conn, course_id, vec, 10,
                                                          exact=True)
                    exact_ms.append((time.perf_counter() - t0) * 1000)
                    exact.append({h.chunk_id for h in hits})
                print(f"  exact top-10    p50 {pct(exact_ms, 50):7.1f} ms   "
                      f"p95 {pct(exact_ms, 95):7.1f} ms")
                for ef in args.ef:
                    found, ms = [], []
                    for vec in qvecs:
                        t0 = time.perf_counter()
                        async with conn.transaction():
                            hits = await chunks.vector_search(conn, course_id, vec, 10,
                                                              ef_search=ef, exact=False)
                        ms.append((time.perf_counter() - t0) * 1000)
                        found.append({h.chunk_id for h in hits})
                    recall = statistics.mean(len(f & e) / 10 for f, e in
                                             zip(found, exact, strict=True))
                    print(f"  HNSW ef_search={ef:<4d} recall@10 {recall:.3f}   "
                          f"p50 {pct(ms, 50):6.1f} ms   p95 {pct(ms, 95):6.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
