"""Hybrid retrieval: course-scoped vector top-k ∪ full-text top-k, fused by reciprocal rank.

RRF needs no score calibration between cosine similarity and ts_rank, which live on unrelated
scales; a passage both searches like wins. The learner's current topic gets a small boost (a
question asked while reading a topic is most likely about it), and a similarity floor drops
passages that only share words with the question: when nothing clears it, the answer is "I don't
know" rather than a guess from unrelated text.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import asyncpg
import numpy as np

from storage import chunks
from storage.chunks import Hit

Mode = Literal["hybrid", "vector", "fts"]

# Tuned on tests/data/demo_questions.toml (recall@3: vector 0.96, FTS 0.77). The usual k = 60
# flattens ranks so much that FTS's noisy OR-matches outvote a clear vector winner; k = 10
# keeps first places decisive, and FTS votes at half weight: it rescues exact terms ("ACID",
# error messages) without dragging in passages that merely share common words.
RRF_K = 10
FTS_WEIGHT = 0.5
CANDIDATES = 20  # per search, before fusion
PASSAGES = 4  # handed to the answerer
PER_TOPIC = 2  # of the passages handed over, so a runner-up topic gets a place
# all-MiniLM-L6-v2 cosine similarity of a demo-course question to its best passage is 0.25-0.75
# on the 48 demo questions; unrelated questions ("best pizza in Rome?") stay under 0.17.
MIN_SIMILARITY = 0.2
# Half of a first-place vote: enough to break near-ties toward the topic being read, never to
# lift an unrelated passage over a clear winner.
TOPIC_BOOST = 0.5 / (RRF_K + 1)


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

    @property
    def confident(self) -> bool:
        return bool(self.passages)


_Fused = tuple[Hit, float, list[int | None]]


def fuse(
    ranked_lists: list[list[Hit]], *, weights: Sequence[float] | None = None,
    current_topic: uuid.UUID | None = None, k: int | None = None, boost: float | None = None,
) -> list[tuple[Hit, float, list[int | None]]]:
    """Weighted reciprocal-rank fusion; returns (hit, score, rank in each list or None), best
    first."""
    weights = list(weights) if weights is not None else [1.0] * len(ranked_lists)
    k = RRF_K if k is None else k
    boost = TOPIC_BOOST if boost is None else boost
    best: dict[str, Hit] = {}
    ranks: dict[str, list[int | None]] = {}
    for i, hits in enumerate(ranked_lists):
        for rank, hit in enumerate(hits, 1):
            best.setdefault(hit.chunk_id, hit)
            slot = ranks.setdefault(hit.chunk_id, [None] * len(ranked_lists))
            if slot[i] is None:
                slot[i] = rank
    scored = []
    for chunk_id, hit in best.items():
        score = sum(w / (k + r) for w, r in zip(weights, ranks[chunk_id], strict=True)
                    if r is not None)
        if current_topic is not None and hit.topic_id == current_topic:
            score += boost
        scored.append((hit, score, ranks[chunk_id]))
    scored.sort(key=lambda s: (-s[1], -s[0].similarity, s[0].chunk_id))
    return scored


def diversify(ranked: list[_Fused], limit: int, per_topic: int | None = None) -> list[_Fused]:
    """At most `per_topic` passages of one topic in the first `limit`, so a runner-up topic
    isn't crowded out by a third slice of the leader; the rest keep their order after."""
    per_topic = PER_TOPIC if per_topic is None else per_topic
    first: list[_Fused] = []
    rest: list[_Fused] = []
    taken: dict[object, int] = {}
    for item in ranked:
        topic = item[0].topic_id or item[0].chunk_id
        if len(first) < limit and taken.get(topic, 0) < per_topic:
            first.append(item)
            taken[topic] = taken.get(topic, 0) + 1
        else:
            rest.append(item)
    return first + rest


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
) -> Retrieval:
    lists: list[list[Hit]] = []
    weights: list[float] = []
    if mode in ("hybrid", "vector") and query_vec is not None:
        lists.append(await chunks.vector_search(conn, course_id, query_vec, candidates,
                                                ef_search=ef_search))
        weights.append(1.0)
    if mode in ("hybrid", "fts"):
        lists.append(await chunks.text_search(conn, course_id, question, candidates,
                                              query_vec))
        weights.append(FTS_WEIGHT)
    fused = fuse(lists, weights=weights, current_topic=current_topic)
    best = max((h.similarity for h, _, _ in fused), default=0.0)
    kept, dropped = [], []
    for hit, score, ranks in fused:
        # Without a query vector there is no similarity to judge by; FTS alone decides.
        if query_vec is not None and hit.similarity < floor:
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
    return Retrieval(question, passages, best, floor, mode, dropped, query_vec)
