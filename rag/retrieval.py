"""Hybrid retrieval: course-scoped vector top-k ∪ BM25 top-k, fused by normalised scores.

Each search's scores are scaled to [0, 1] over the question's candidates and mixed with fixed
weights; a passage both searches like wins, and a clear winner of either keeps its lead. The
learner's current topic gets a small boost (a question asked while reading a topic is most
likely about it), and a similarity floor drops passages that only share words with the
question: when nothing clears it, the answer is "I don't know" rather than a guess from
unrelated text.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import asyncpg
import numpy as np

from storage import chunks
from storage.chunks import Hit

Mode = Literal["hybrid", "vector", "fts"]

Fusion = Literal["score", "rrf"]

# Normalised score fusion: each search's scores are scaled to [0, 1] within the question's
# candidates (cosine similarity min-max, BM25 over its best), then mixed. Unlike rank fusion it
# keeps how far ahead a winner is, so one search's clear first place isn't outvoted by the
# other's noisy runner-ups. Weight chosen on the tune halves of both corpora (with CONTEXT).
VECTOR_WEIGHT = 0.75
FUSION: Fusion = "score"
RRF_K = 10  # for fusion="rrf" (the former default, tuned on the demo course)
FTS_WEIGHT = 0.5  # BM25's vote in rank fusion
CANDIDATES = 30  # per search, before fusion
PASSAGES = 4  # handed to the answerer
# One passage per sub-section: a second slice of the leader adds little the first didn't say,
# while the runner-up section it would push out is often the answer (tune half: R@3 up).
PER_SECTION = 1
# all-MiniLM-L6-v2 cosine similarity of a question to its best passage is at least 0.27 on the
# tune questions of both corpora; unrelated questions stay under 0.25 ("best pizza place in
# Rome?" reaches 0.248 on the PostgreSQL docs, 0.11 on the demo course).
MIN_SIMILARITY = 0.26
# A passage's cosine similarity, as fused, is smoothed with its sub-section's and its topic's
# (the mean embedding of their passages): a slice whose own words drift from the question is
# carried by the section around it, and a lone slice of an unrelated section that happens to
# match loses a little. Weights (of the passage's own similarity, 1) chosen on a plateau of the
# tune halves of both corpora: section 0.2-0.4 and topic 0.2-0.4 give the same recall there.
SECTION_WEIGHT = 0.3
TOPIC_WEIGHT = 0.3
# A tenth of the fused scale: enough to break near-ties toward the topic being read, never to
# lift an unrelated passage over a clear winner.
TOPIC_BOOST = 0.1

# The default embedding model (all-MiniLM-L6-v2) learned English only. On a Filipino question
# its cosine is driven by the function words every Filipino sentence shares (ang, ng, sa,
# mga), so an off-topic question scores like an on-topic one and no similarity floor can say
# "I don't know". With such a model a non-English passage must also match one of the
# question's content words: BM25 over the question without the language's function words.
_FIL_FUNCTION_WORDS = """
        ang ng sa mga na at ay si ni kay ko mo niya namin natin nila ninyo ako ikaw ka siya
        kami tayo sila kayo ito iyan iyon yan yon yun yung 'yung 'yun dito diyan doon ba po ho
        naman lang lamang din rin pa nang kung kapag pag para upang dahil pero ngunit o may
        mayroon meron wala hindi oo ano anong sino saan kailan paano bakit alin aling ilan gaano
        kasi talaga sana nga daw raw pala kaya e eh ha diba isang isa mas pinaka dapat puwede
        pwede gusto kailangan kong mong niyang ating aming nilang gamit gamitin ginagamit
        ibig sabihin halimbawa lahat bawat iba ibang nasa mula hanggang tungkol akin iyo kanya
        amin atin kanila inyo ganito ganyan ganoon
"""
FUNCTION_WORDS: dict[str, frozenset[str]] = {"fil": frozenset(_FIL_FUNCTION_WORDS.split())}


def content_words(question: str, language: str) -> str:
    """The question without the language's function words (what BM25 may match on)."""
    stop = FUNCTION_WORDS.get(language, frozenset())
    words = [w for w in question.split() if w.strip("?!.,;:\"'“”()").lower() not in stop]
    return " ".join(words)


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk as the answerer sees it; `n` is its citation number ([n])."""

    n: int
    hit: Hit
    score: float
    vector_rank: int | None
    fts_rank: int | None

    @property
    def topic_title(self) -> str:
        return self.hit.topic_title or self.hit.heading

    @property
    def text(self) -> str:
        return self.hit.content


@dataclass
class Retrieval:
    question: str
    passages: list[Passage]
    best_similarity: float
    floor: float
    mode: Mode
    dropped: list[Hit] = field(default_factory=list)  # found, but under the floor
    query_vec: np.ndarray | None = None
    language: str = "en"  # the passages' language (topics without it: the default's)

    @property
    def confident(self) -> bool:
        return bool(self.passages)


_Fused = tuple[Hit, float, list[int | None]]


def _ranks(ranked_lists: list[list[Hit]]) -> tuple[dict[str, Hit], dict[str, list[int | None]]]:
    best: dict[str, Hit] = {}
    ranks: dict[str, list[int | None]] = {}
    for i, hits in enumerate(ranked_lists):
        for rank, hit in enumerate(hits, 1):
            best.setdefault(hit.chunk_id, hit)
            slot = ranks.setdefault(hit.chunk_id, [None] * len(ranked_lists))
            if slot[i] is None:
                slot[i] = rank
    return best, ranks


def fuse(
    ranked_lists: list[list[Hit]], *, weights: Sequence[float] | None = None,
    current_topic: uuid.UUID | None = None, k: int | None = None, boost: float | None = None,
) -> list[_Fused]:
    """Weighted reciprocal-rank fusion; returns (hit, score, rank in each list or None), best
    first."""
    weights = list(weights) if weights is not None else [1.0] * len(ranked_lists)
    k = RRF_K if k is None else k
    boost = 0.5 / (k + 1) if boost is None else boost
    best, ranks = _ranks(ranked_lists)
    scored = []
    for chunk_id, hit in best.items():
        score = sum(w / (k + r) for w, r in zip(weights, ranks[chunk_id], strict=True)
                    if r is not None)
        if current_topic is not None and hit.topic_id == current_topic:
            score += boost
        scored.append((hit, score, ranks[chunk_id]))
    scored.sort(key=lambda s: (-s[1], -s[0].similarity, s[0].chunk_id))
    return scored


Context = dict[tuple[uuid.UUID, str, str | None], float]


def smoothed(hit: Hit, context: Context | None) -> float:
    """The passage's similarity mixed with its sub-section's and topic's (when known)."""
    if not context or hit.topic_id is None:
        return hit.similarity
    section = context.get((hit.topic_id, hit.language, hit.heading), hit.similarity)
    topic = context.get((hit.topic_id, hit.language, None), hit.similarity)
    return (hit.similarity + SECTION_WEIGHT * section + TOPIC_WEIGHT * topic) \
        / (1 + SECTION_WEIGHT + TOPIC_WEIGHT)


def fuse_scores(
    vector_hits: list[Hit], text_hits: list[Hit], *, vector_weight: float | None = None,
    current_topic: uuid.UUID | None = None, boost: float | None = None,
    context: Context | None = None,
) -> list[_Fused]:
    """Normalised score fusion of a vector and a BM25 list: cosine similarity (smoothed with
    `context`, see `smoothed`) min-max scaled over all candidates (every candidate has one: the
    text search fills it in), BM25 divided by the best BM25 score (0 for a passage BM25 didn't
    return)."""
    alpha = VECTOR_WEIGHT if vector_weight is None else vector_weight
    boost = TOPIC_BOOST if boost is None else boost
    best, ranks = _ranks([vector_hits, text_hits])
    sim = {chunk_id: smoothed(h, context) for chunk_id, h in best.items()}
    sims = list(sim.values())
    lo, hi = (min(sims), max(sims)) if sims else (0.0, 1.0)
    spread = hi - lo if hi > lo else 1.0
    bm25 = {h.chunk_id: h.rank_score for h in text_hits}
    top_bm25 = max(bm25.values(), default=0.0) or 1.0
    scored = []
    for chunk_id, hit in best.items():
        score = alpha * (sim[chunk_id] - lo) / spread \
            + (1 - alpha) * bm25.get(chunk_id, 0.0) / top_bm25
        if current_topic is not None and hit.topic_id == current_topic:
            score += boost
        scored.append((hit, score, ranks[chunk_id]))
    scored.sort(key=lambda s: (-s[1], -s[0].similarity, s[0].chunk_id))
    return scored


def _section(hit: Hit) -> str:
    # the heading path names the sub-section; chunks of one sub-section share it
    return f"{hit.topic_id or hit.chunk_id}/{hit.heading}"


def diversify(ranked: list[_Fused], limit: int, per_section: int | None = None) -> list[_Fused]:
    """At most `per_section` passages of one sub-section in the first `limit`, so a runner-up
    isn't crowded out by a third slice of the leader; the rest keep their order after."""
    per_section = PER_SECTION if per_section is None else per_section
    first: list[_Fused] = []
    rest: list[_Fused] = []
    taken: dict[str, int] = {}
    for item in ranked:
        key = _section(item[0])
        if len(first) < limit and taken.get(key, 0) < per_section:
            first.append(item)
            taken[key] = taken.get(key, 0) + 1
        else:
            rest.append(item)
    return first + rest


async def lexical_candidates(
    conn: asyncpg.Connection, course_id: uuid.UUID, question: str,
    query_vec: np.ndarray | None, *, candidates: int = CANDIDATES, language: str = "en",
    lexical_gate: bool = False,
) -> list[Hit]:
    """BM25's candidates for `retrieve` (with `lexical_gate`, over the question's content
    words only); without `query_vec` their similarities are left at 0, to be filled in by
    `retrieve` once the question is embedded."""
    words = content_words(question, language) if lexical_gate else question
    if not words.strip():
        return []
    return await chunks.text_search(conn, course_id, words, candidates, query_vec,
                                    language=language)


async def retrieve(
    conn: asyncpg.Connection,
    course_id: uuid.UUID,
    question: str,
    query_vec: np.ndarray | None,
    *,
    current_topic: uuid.UUID | None = None,
    mode: Mode = "hybrid",
    limit: int = PASSAGES,
    candidates: int = CANDIDATES,
    floor: float = MIN_SIMILARITY,
    ef_search: int = chunks.DEFAULT_EF_SEARCH,
    timings: dict[str, float] | None = None,
    language: str = "en",
    fallback: str | None = None,
    lexical_gate: bool = False,
    text_hits: list[Hit] | None = None,
) -> Retrieval:
    """Passages in `language`; with `fallback` (the course's default language) the vector
    search also sees the default language's passages of topics not written in `language`
    (BM25 stays within one language: its statistics and stemming are per language).
    `lexical_gate` (an English-only model, a question in another language): only passages
    BM25 finds for the question's content words count (see FUNCTION_WORDS).
    `text_hits`: the BM25 list `lexical_candidates` found already (while the question was
    being embedded); their similarities are filled in here.
    `timings`, when given, receives each step's milliseconds (vector, fts, context, fuse)."""
    clock = time.perf_counter
    lists: list[list[Hit]] = []
    weights: list[float] = []
    t0 = clock()
    if mode in ("hybrid", "vector") and query_vec is not None:
        # The search's planner settings are local to a transaction: this is its own (a
        # savepoint when the caller's unit of work already is one).
        async with conn.transaction():
            lists.append(await chunks.vector_search(conn, course_id, query_vec, candidates,
                                                    ef_search=ef_search, language=language,
                                                    fallback=fallback))
        weights.append(1.0)
    t1 = clock()
    # The gate judges passages the vector side found: it needs one, and BM25 beside it.
    lexical_gate = lexical_gate and query_vec is not None and mode == "hybrid"
    if mode in ("hybrid", "fts"):
        if text_hits is None:
            text_hits = await lexical_candidates(conn, course_id, question, query_vec,
                                                 candidates=candidates, language=language,
                                                 lexical_gate=lexical_gate)
        elif query_vec is not None and text_hits:
            text_hits = await chunks.with_similarities(conn, text_hits, query_vec)
        lists.append(text_hits)
        weights.append(FTS_WEIGHT)
    t2 = clock()
    context: Context | None = None
    if FUSION == "score" and len(lists) == 2 and query_vec is not None \
            and (SECTION_WEIGHT or TOPIC_WEIGHT):
        topics = list(dict.fromkeys(h.topic_id for hits in lists for h in hits if h.topic_id))
        context = await chunks.context_similarities(conn, course_id, query_vec, topics) \
            if topics else None
    t3 = clock()
    if FUSION == "score" and len(lists) == 2:
        fused = fuse_scores(lists[0], lists[1], current_topic=current_topic, context=context)
    elif len(lists) == 1 and mode == "vector":
        fused = fuse_scores(lists[0], [], vector_weight=1.0, current_topic=current_topic)
    elif len(lists) == 1 and query_vec is not None:
        fused = fuse_scores([], lists[0], vector_weight=0.0, current_topic=current_topic)
    else:
        fused = fuse(lists, weights=weights, current_topic=current_topic)
    best = max((h.similarity for h, _, _ in fused), default=0.0)
    kept, dropped = [], []
    for hit, score, ranks in fused:
        # Without a query vector there is no similarity to judge by; FTS alone decides.
        if query_vec is not None and hit.similarity < floor:
            dropped.append(hit)
        elif lexical_gate and ranks[1] is None and hit.language == language:
            # Close by cosine only, which means little between two texts in this language
            # (ranks: vector, BM25). A default-language passage of an untranslated topic
            # shares no function words with the question: the floor judges it as before.
            dropped.append(hit)
        else:
            kept.append((hit, score, ranks))
    kept = diversify(kept, limit)
    vec_i = 0 if mode in ("hybrid", "vector") and query_vec is not None else None
    fts_i = (1 if vec_i == 0 else 0) if mode in ("hybrid", "fts") else None
    passages = [
        Passage(n, hit, score,
                ranks[vec_i] if vec_i is not None else None,
                ranks[fts_i] if fts_i is not None else None)
        for n, (hit, score, ranks) in enumerate(kept[:limit], 1)
    ]
    if timings is not None:
        timings.update(vector=(t1 - t0) * 1000, fts=(t2 - t1) * 1000,
                       context=(t3 - t2) * 1000, fuse=(clock() - t3) * 1000)
    return Retrieval(question, passages, best, floor, mode, dropped, query_vec)
