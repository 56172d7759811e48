"""Retrieval-quality evaluation on two corpora: prints figures, asserts nothing.

Each corpus is imported through the real path (`content.importer.import_source`) into a fresh
embedded database. For every question of both halves (tune / held-out) it reports recall@1/3/5
of five retrievers:

- learnbot: the product's hybrid retriever (`rag.retrieval.retrieve`, mode "hybrid")
- vector: the same chunks, vector search only
- bm25: the same chunks, full-text (BM25) search only
- win-bm25: BM25 (the `bm25s` library, English stop words, Snowball stemmer) over naive
  non-overlapping 180-word windows of the course text
- win-vector: all-MiniLM-L6-v2 over the same 180-word windows

and the share of held-out questions whose extractive answer's first sentence lies inside the
expected section.

A retrieved passage *hits* when it belongs to the expected section: the topic given by
`topic`, and, when the question names a `section` (a `###` sub-section), that sub-section.
A learnbot chunk belongs to the sub-section its heading path names; any passage (a window
especially, which ignores structure) also belongs to every section that holds at least a
quarter of its text (sentence fragments found verbatim in the section's text).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/rag_eval.py
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, bench/ comes first on the path, and bench/rag.py would shadow the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.embedded_db import migrated_database  # noqa: E402
from content.course_format import CourseSource, load_course  # noqa: E402
from content.importer import import_source  # noqa: E402
from rag import retrieval  # noqa: E402
from rag.chunking import split_sentences, split_subsections  # noqa: E402
from rag.embedding import Embedder  # noqa: E402
from rag.service import RagService  # noqa: E402

PG_COURSE = ROOT / "tests" / "data" / "corpora" / "pg-tutorial"
PG_QUESTIONS = ROOT / "tests" / "data" / "pg_questions.toml"
DEMO_COURSE = ROOT / "courses" / "sql-basics"
DEMO_QUESTIONS = ROOT / "tests" / "data" / "demo_questions.toml"
DEMO_OFF_TOPIC = [
    "what's the best pizza place in Rome?",
    "who won the football world cup in 2018?",
    "how do I bake sourdough bread?",
    "what is the capital of Australia?",
    "can you recommend a good movie for tonight?",
    "how do I change a flat tyre on my bike?",
]
WINDOW_WORDS = 180
KS = (1, 3, 5)
SHARE = 0.25  # of a passage's text, for it to belong to a section
RETRIEVERS = ("learnbot", "vector", "bm25", "win-bm25", "win-vector")

Section = tuple[str, str | None]  # (topic key, sub-section heading or None for the topic)


@dataclass(frozen=True)
class Question:
    text: str
    topic_key: str
    section: str | None
    split: str  # "tune" | "heldout"

    @property
    def target(self) -> Section:
        return (self.topic_key, self.section)


@dataclass(frozen=True)
class Retrieved:
    text: str
    topic_key: str | None = None  # known for learnbot chunks
    section: str | None = None  # the sub-section a chunk's heading path names


@dataclass
class Corpus:
    name: str
    src: CourseSource
    questions: list[Question]
    off_topic: list[str]
    sections: dict[Section, str] = field(default_factory=dict)  # normalised text


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def section_texts(src: CourseSource) -> dict[Section, str]:
    out: dict[Section, str] = {}
    for topic in src.topics:
        out[(topic.key, None)] = _norm(f"{topic.title}\n{topic.body}")
        for heading, text in split_subsections(topic.body):
            if heading:
                out[(topic.key, heading)] = _norm(f"{heading}\n{text}")
    return out


def load_corpus(name: str, course: Path, questions: Path) -> Corpus:
    src = load_course(course)
    data = tomllib.loads(questions.read_text())
    keys = {t.title: t.key for t in src.topics}
    if "q" in data:
        qs = [Question(q["question"], keys[q["topic"]], q.get("section"), q["split"])
              for q in data["q"]]
        off = list(data.get("off_topic", []))
    else:  # the demo file: topic-level pairs, split alternately (it was tuned on as a whole)
        qs = [Question(p["question"], keys[p["topic"]], None,
                       "tune" if i % 2 == 0 else "heldout")
              for i, p in enumerate(data["pairs"])]
        off = DEMO_OFF_TOPIC
    corpus = Corpus(name, src, qs, off)
    corpus.sections = section_texts(src)
    return corpus


def belongs(corpus: Corpus, passage: Retrieved, target: Section) -> bool:
    topic_key, sub = target
    if passage.topic_key is not None:
        if passage.topic_key != topic_key:
            return False
        if sub is None or passage.section == sub:
            return True
    section = corpus.sections.get(target)
    if section is None:
        return False
    fragments = [_norm(s) for s in split_sentences(" ".join(passage.text.split()))]
    total = sum(len(f) for f in fragments) or 1
    inside = sum(len(f) for f in fragments if f and f in section)
    return inside / total >= SHARE


# --- retrievers -------------------------------------------------------------------------------

def windows(src: CourseSource, size: int = WINDOW_WORDS) -> list[str]:
    """The course as one text (headings included), cut every `size` words, structure ignored."""
    words: list[str] = []
    for module in src.modules:
        words += f"# {module.title}".split()
        for topic in module.topics:
            words += f"## {topic.title}\n{topic.body}".split()
    return [" ".join(words[i:i + size]) for i in range(0, len(words), size)]


class WindowBaselines:
    """The two naive baselines over fixed windows."""

    def __init__(self, src: CourseSource, embedder: Embedder) -> None:
        import bm25s
        import Stemmer

        self.texts = windows(src)
        self._stemmer = Stemmer.Stemmer("english")
        self._bm25 = bm25s.BM25()
        self._bm25.index(bm25s.tokenize(self.texts, stopwords="en", stemmer=self._stemmer,
                                        show_progress=False), show_progress=False)
        self._vecs = embedder.encode(self.texts)
        self._embedder = embedder

    def bm25(self, question: str, k: int) -> list[Retrieved]:
        import bm25s

        tokens = bm25s.tokenize([question], stopwords="en", stemmer=self._stemmer,
                                show_progress=False)
        if not tokens.vocab:
            return []
        docs, _ = self._bm25.retrieve(tokens, k=min(k, len(self.texts)), show_progress=False)
        return [Retrieved(self.texts[i]) for i in docs[0]]

    def vector(self, vec: np.ndarray, k: int) -> list[Retrieved]:
        order = np.argsort(-(self._vecs @ vec))[:k]
        return [Retrieved(self.texts[i]) for i in order]


def _sub_of(hit_heading: str, module_title: str, topic_title: str) -> str | None:
    prefix = f"{module_title} › {topic_title} › " if module_title else f"{topic_title} › "
    return hit_heading[len(prefix):] if hit_heading.startswith(prefix) else None


def _from_found(found: retrieval.Retrieval) -> list[Retrieved]:
    return [Retrieved(p.text, p.hit.topic_key,
                      _sub_of(p.hit.heading, p.hit.module_title, p.hit.topic_title))
            for p in found.passages]


# --- the run ----------------------------------------------------------------------------------

@dataclass
class Figures:
    # recall[(retriever, split)] = {k: recall}
    recall: dict[tuple[str, str], dict[int, float]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    first_sentence: dict[str, float] = field(default_factory=dict)  # per split
    off_topic_passages: int = 0  # passages the product returned for off-topic questions
    misses: list[str] = field(default_factory=list)


def first_sentence(text: str) -> str:
    first = text.split("\n\n")[0]
    first = re.sub(r"\s*\[\d+\]\s*$", "", first)
    sentences = split_sentences(" ".join(first.split()))
    return sentences[0] if sentences else ""


async def evaluate(
    conn: asyncpg.Connection, course_id: uuid.UUID, corpus: Corpus, embedder: Embedder,
    *, retrievers: tuple[str, ...] = RETRIEVERS, splits: tuple[str, ...] = ("tune", "heldout"),
    answers: bool = True,
) -> Figures:
    figures = Figures()
    base = WindowBaselines(corpus.src, embedder) \
        if {"win-bm25", "win-vector"} & set(retrievers) else None
    rag = RagService(embedder)
    k = max(KS)
    hits: dict[tuple[str, str], dict[int, int]] = {}
    first_ok: dict[str, int] = {}
    for q in corpus.questions:
        if q.split not in splits:
            continue
        figures.counts[q.split] = figures.counts.get(q.split, 0) + 1
        vec = await embedder.embed_query(q.text)
        for name in retrievers:
            passages = await _run(name, conn, course_id, q.text, vec, base, k)
            ranks = [i for i, p in enumerate(passages) if belongs(corpus, p, q.target)]
            slot = hits.setdefault((name, q.split), dict.fromkeys(KS, 0))
            for kk in KS:
                slot[kk] += bool(ranks) and ranks[0] < kk
            if name == "learnbot" and q.split == "tune" and (not ranks or ranks[0] >= 3):
                figures.misses.append(f"{q.split:7s} {q.text!r} → {q.target}; got "
                                      f"{[(p.topic_key, p.section) for p in passages[:3]]}")
        if answers:
            found = await rag.retrieve(conn, course_id, q.text)
            ans = await rag.compose(q.text, found, course_title=corpus.src.title)
            sentence = _norm(first_sentence(ans.text))
            section = corpus.sections.get(q.target, "")
            first_ok[q.split] = first_ok.get(q.split, 0) + bool(sentence and sentence in section)
    for key, slot in hits.items():
        figures.recall[key] = {kk: slot[kk] / figures.counts[key[1]] for kk in KS}
    for split, n in first_ok.items():
        figures.first_sentence[split] = n / figures.counts[split]
    for question in corpus.off_topic:
        found = await rag.retrieve(conn, course_id, question)
        figures.off_topic_passages += len(found.passages)
    return figures


async def _run(name: str, conn: asyncpg.Connection, course_id: uuid.UUID, question: str,
               vec: np.ndarray, base: WindowBaselines | None, k: int) -> list[Retrieved]:
    modes: dict[str, retrieval.Mode] = {"learnbot": "hybrid", "vector": "vector", "bm25": "fts"}
    if name in modes:
        found = await retrieval.retrieve(conn, course_id, question, vec, mode=modes[name],
                                         limit=k, floor=0.0)
        return _from_found(found)
    assert base is not None
    return base.bm25(question, k) if name == "win-bm25" else base.vector(vec, k)


def report(corpus: Corpus, figures: Figures, chunks: int) -> str:
    lines = [f"== {corpus.name}: {chunks} learnbot chunks, {len(windows(corpus.src))} windows; "
             f"questions tune {figures.counts.get('tune', 0)}, "
             f"held-out {figures.counts.get('heldout', 0)} =="]
    lines.append(f"  {'retriever':11s} | {'tune  R@1   R@3   R@5':22s} | held-out R@1   R@3   R@5")
    for name in RETRIEVERS:
        cells = []
        for split in ("tune", "heldout"):
            r = figures.recall.get((name, split))
            cells.append("  ".join(f"{r[k]:.3f}" for k in KS) if r else "  -    -    -  ")
        lines.append(f"  {name:11s} |  {cells[0]}    |       {cells[1]}")
    lines.append("  extractive answer's first sentence inside the expected section: "
                 + ", ".join(f"{s} {v:.3f}" for s, v in figures.first_sentence.items()))
    lines.append(f"  off-topic questions: {len(corpus.off_topic)}, passages returned "
                 f"{figures.off_topic_passages} (0 = every one answered \"I don't know\")")
    return "\n".join(lines)


async def import_corpus(pool: asyncpg.Pool, corpus: Corpus,
                        embedder: Embedder) -> tuple[uuid.UUID, int]:
    report_ = await import_source(pool, corpus.src, embedder=embedder)
    return report_.course_id, report_.chunks


async def main() -> None:
    import argparse

    from rag.embedding import get_embedder

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--misses", action="store_true",
                        help="list learnbot's misses @3 (tune questions only)")
    parser.add_argument("--split", choices=("tune", "heldout", "both"), default="both",
                        help="evaluate one half only (tune while choosing changes)")
    args = parser.parse_args()
    splits = ("tune", "heldout") if args.split == "both" else (args.split,)
    embedder = get_embedder()
    embedder.load()
    corpora = [load_corpus("pg-tutorial (PostgreSQL 15 docs)", PG_COURSE, PG_QUESTIONS),
               load_corpus("sql-basics (demo course)", DEMO_COURSE, DEMO_QUESTIONS)]
    async with migrated_database("learnbot-eval-", "eval") as pool:
        for corpus in corpora:
            t0 = time.perf_counter()
            course_id, chunks = await import_corpus(pool, corpus, embedder)
            async with pool.acquire() as conn:
                figures = await evaluate(conn, course_id, corpus, embedder, splits=splits)
            print(report(corpus, figures, chunks))
            print(f"  ({time.perf_counter() - t0:.0f} s)")
            if args.misses:
                print("\n".join("    " + m for m in figures.misses))
            print()


if __name__ == "__main__":
    asyncio.run(main())


