"""How well retrieval does on Filipino questions: prints figures, asserts nothing.

The demo course (module 1 in English and Filipino) is imported through the real path into a
fresh embedded database with the configured embedding model (`EMBEDDING_MODEL`, default
all-MiniLM-L6-v2). Twelve learner questions about module 1, each written in Filipino (as a
Filipino learner would type it, Taglish included) and in English, name the topic they should
retrieve. For each retriever it prints recall@1/@3 by topic of

- fil → fil: Filipino questions against the Filipino passages (what a fil learner gets)
- en → en: the same questions in English against the English passages (the baseline)
- fil → en: Filipino questions against the English passages (a course with no translation)

and how many questions got no passage at all (every passage under `RAG_MIN_SIMILARITY`: the
bot would say "I don't know"), with the mean cosine similarity of the best passage.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/rag_fil.py
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, bench/ comes first on the path, and bench/rag.py would shadow the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.embedded_db import migrated_database  # noqa: E402
from content.course_format import load_course  # noqa: E402
from content.importer import import_source  # noqa: E402
from rag.retrieval import Mode  # noqa: E402
from rag.service import RagService  # noqa: E402

DEMO_COURSE = ROOT / "courses" / "sql-basics"
SELECT, WHERE = "tables-rows-and-select", "filtering-rows-with-where"
SORT, LIKE = "sorting-and-limiting-results", "pattern-matching-and-expressions"

# (Filipino, English, topic key)
QUESTIONS: list[tuple[str, str, str]] = [
    ("Ano ba ang pagkakaiba ng row at column sa isang table?",
     "What is the difference between a row and a column in a table?", SELECT),
    ("Paano ko makikita lahat ng column ng books table?",
     "How do I see every column of the books table?", SELECT),
    ("Paano ko ililista ang bawat genre nang isang beses lang, walang ulit?",
     "How do I list each genre only once, without repeats?", SELECT),
    ("Bakit walang lumalabas na row kapag = NULL ang ginamit ko?",
     "Why do no rows come back when I use = NULL?", WHERE),
    ("Paano pagsamahin ang AND at OR nang tama sa isang kondisyon?",
     "How do I combine AND and OR correctly in one condition?", WHERE),
    ("Kasama ba yung dalawang dulo kapag gumamit ako ng BETWEEN?",
     "Are both ends included when I use BETWEEN?", WHERE),
    ("Paano ko aayusin ang resulta mula pinakamahal hanggang pinakamura?",
     "How do I sort the results from most expensive to cheapest?", SORT),
    ("Paano kunin yung top 5 na pinakamahabang libro?",
     "How do I get the top 5 longest books?", SORT),
    ("Paano gumawa ng pagination, halimbawa pahina 3 na may 10 row bawat pahina?",
     "How do I paginate, for example page 3 with 10 rows per page?", SORT),
    ("Paano maghanap ng salita sa loob ng title kahit anong laki ng titik?",
     "How do I search for a word inside a title whatever the capitalisation?", LIKE),
    ("Bakit 3 lang ang lumalabas sa 95 / 30?",
     "Why does 95 / 30 give only 3?", LIKE),
    ("Bakit hindi ko magamit ang alias ko sa WHERE?",
     "Why can't I use my alias in WHERE?", LIKE),
]
# Questions the course doesn't cover: the bot should say it doesn't know (no passage).
OFF_TOPIC: list[tuple[str, str]] = [
    ("Saan masarap kumain ng lechon sa Cebu?", "Where is the best lechon in Cebu?"),
    ("Sino ang nanalo sa NBA finals noong 2016?", "Who won the NBA finals in 2016?"),
    ("Paano magluto ng adobong manok?", "How do I cook chicken adobo?"),
    ("Anong oras ang alis ng barko papuntang Bohol?", "What time does the ferry to Bohol leave?"),
]
MODES: tuple[Mode, ...] = ("hybrid", "vector", "fts")


async def main() -> None:
    from bot.config import load_settings
    from rag.embedding import get_embedder

    settings = load_settings()
    embedder = get_embedder(settings.embedding_model)
    embedder.load()
    rag = RagService(embedder)
    src = load_course(DEMO_COURSE)
    print(f"model: {embedder.model_name}; {len(QUESTIONS)} questions about module 1 "
          f"(3 per topic); a hit = a passage of the expected topic; floor "
          f"{rag.config.min_similarity}")
    async with migrated_database("learnbot-fil-", "fil") as pool:
        t0 = time.perf_counter()
        report = await import_source(pool, src, embedder=embedder)
        print(f"imported: {report.summary()} ({time.perf_counter() - t0:.0f} s)\n")
        print("  questions → passages | retriever | R@1    R@3   | no passage | "
              "mean best cosine")
        async with pool.acquire() as conn:
            for label, q_index, lang in (("fil → fil", 0, "fil"), ("en  → en ", 1, "en"),
                                         ("fil → en ", 0, "en")):
                for mode in MODES:
                    at1 = at3 = empty = 0
                    best = 0.0
                    for q in QUESTIONS:
                        found = await rag.retrieve(conn, report.course_id, q[q_index],
                                                   mode=mode, lang=lang)
                        keys = [p.hit.topic_key for p in found.passages]
                        at1 += keys[:1] == [q[2]]
                        at3 += q[2] in keys[:3]
                        empty += not found.passages
                        best += found.best_similarity
                    n = len(QUESTIONS)
                    cosine = f"{best / n:.3f}" if mode != "fts" else "  -  "
                    print(f"  {label}            | {mode:9} | {at1 / n:.3f}  {at3 / n:.3f} "
                          f"| {empty:2d} of {n}   | {cosine}")
            print("\n  off-topic questions answered from a passage (should be 0):")
            for label, q_index, lang in (("fil → fil", 0, "fil"), ("en  → en ", 1, "en")):
                hybrid = [await rag.retrieve(conn, report.course_id, q[q_index], lang=lang)
                          for q in OFF_TOPIC]
                print(f"  {label}: hybrid (what learners get) "
                      f"{sum(bool(f.passages) for f in hybrid)} of {len(OFF_TOPIC)}")
                found = [await rag.retrieve(conn, report.course_id, q[q_index],
                                            lang=lang, mode="vector")
                         for q in OFF_TOPIC]
                on = [await rag.retrieve(conn, report.course_id, q[q_index], lang=lang,
                                         mode="vector") for q in QUESTIONS]
                answered = sum(bool(f.passages) for f in found)
                print(f"  {label}: {answered} of {len(OFF_TOPIC)}; best cosine off-topic "
                      f"max {max(f.best_similarity for f in found):.3f}, on-topic min "
                      f"{min(f.best_similarity for f in on):.3f}")


if __name__ == "__main__":
    asyncio.run(main())
