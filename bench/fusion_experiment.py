"""Learned fusion experiment (issue 12): a small linear model over per-candidate features.

Two steps:

    collect  import both corpora (as bench/rag_eval.py does), and for every question store the
             candidates learnbot's retriever considers (vector top-30 ∪ BM25 top-30, before
             fusion) with their features and labels in a cache file (slow: embedding + DB)
    fit      from the cache only: fit logistic / pairwise models on the TUNE halves (both
             corpora pooled), hyper-parameters by 5-fold cross-validation by question within
             the tune halves; `--heldout` evaluates the one chosen configuration on the
             held-out halves (run it once, at the end)

    HF_HUB_OFFLINE=1 .venv/bin/python bench/fusion_experiment.py collect
    HF_HUB_OFFLINE=1 .venv/bin/python bench/fusion_experiment.py fit [--heldout CONFIG]

Findings (74 tune questions, 45 candidates each, every question has a positive among them):
no model beat the current fused score on tune-CV (pooled R@1/3/5 0.811/0.959/0.973).
Pointwise logistic over all features: 0.694/0.937/0.959; pairwise over fused+its two parts:
0.811/0.955/0.973; listwise over all: 0.793/0.959/0.973; listwise as a correction to the
fused score (unpenalised) with strong L2: exactly the current ranking, with weak L2 at best
0.824/0.946/0.973 (+1 question @1, -1 @3). Section/topic aggregates (CombMNZ-like counts,
max, sum) didn't help either. The chosen configuration (listwise_off:base3:0.003, by tune-CV
R@1+R@3, ties to the fewest features and strongest L2) is the current ranking on held-out
too. The tune misses are paraphrases whose top candidate is a plausible neighbouring
section, on every signal at once: a reweighting of the same signals can't reach them.
"""

from __future__ import annotations

import argparse
import asyncio
import pickle
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench import rag_eval  # noqa: E402
from bench.embedded_db import migrated_database  # noqa: E402
from rag import retrieval  # noqa: E402
from storage import chunks  # noqa: E402

CACHE = Path("/tmp/learnbot-fusion-features.pkl")
KS = (1, 3, 5)
FEATURES = (
    "cos", "sec_cos", "top_cos", "smooth", "smooth_mm", "bm25", "bm25_rel", "in_vec", "in_bm25",
    "inv_vec_rank", "inv_bm25_rank", "fused", "first_of_sub", "log_len", "head_cos",
    "topic_head_cos", "head_overlap", "content_overlap", "cos_gap", "sec_rank_inv",
)

# derived in `fit` from the cached lists (`add_aggregates`)
AGGREGATES = ("sec_count", "topic_count", "sec_max_fused", "topic_max_fused", "sec_sum_fused",
              "inv_fused_rank")


_WORD = re.compile(r"[a-z0-9_]+")


def _terms(text: str, stem) -> set[str]:
    import bm25s.stopwords as sw

    stop = set(sw.STOPWORDS_EN)
    return {stem.stemWord(w) for w in _WORD.findall(text.lower()) if w not in stop}


# --- collect ----------------------------------------------------------------------------------

async def _collect() -> list[dict]:
    import Stemmer

    from rag.embedding import get_embedder

    stem = Stemmer.Stemmer("english")
    embedder = get_embedder()
    embedder.load()
    corpora = [
        rag_eval.load_corpus("pg", rag_eval.PG_COURSE, rag_eval.PG_QUESTIONS),
        rag_eval.load_corpus("demo", rag_eval.DEMO_COURSE, rag_eval.DEMO_QUESTIONS),
    ]
    out: list[dict] = []
    async with migrated_database("learnbot-fusion-", "eval") as pool:
        for corpus in corpora:
            course_id, _ = await rag_eval.import_corpus(pool, corpus, embedder)
            async with pool.acquire() as conn:
                out += await _collect_corpus(conn, course_id, corpus, embedder, stem)
            print(f"{corpus.name}: {len(corpus.questions)} questions", flush=True)
    return out


async def _collect_corpus(conn, course_id, corpus, embedder, stem) -> list[dict]:
    rows = await conn.fetch(
        "SELECT chunk_id, topic_id, heading, ordinal, language FROM course_chunks"
        " WHERE course_id = $1", course_id)
    first_ord: dict[tuple, int] = {}
    for r in rows:
        key = (r["topic_id"], r["language"], r["heading"])
        first_ord[key] = min(first_ord.get(key, 10**9), r["ordinal"])
    ordinal = {r["chunk_id"]: r["ordinal"] for r in rows}
    headings = sorted({r["heading"] for r in rows})
    topic_heads = sorted({h.rsplit(" › ", 1)[0] if h.count(" › ") >= 2 else h for h in headings})
    head_vec = dict(zip(headings, embedder.encode(headings), strict=True))
    topic_vec = dict(zip(topic_heads, embedder.encode(topic_heads), strict=True))
    head_terms = {h: _terms(h, stem) for h in headings}
    questions = []
    for qi, q in enumerate(corpus.questions):
        vec = await embedder.embed_query(q.text)
        async with conn.transaction():
            vhits = await chunks.vector_search(conn, course_id, vec, retrieval.CANDIDATES)
        thits = await retrieval.lexical_candidates(conn, course_id, q.text, vec)
        topics = list(dict.fromkeys(h.topic_id for hs in (vhits, thits) for h in hs
                                    if h.topic_id))
        context = await chunks.context_similarities(conn, course_id, vec, topics)
        fused = retrieval.fuse_scores(vhits, thits, context=context)
        base = retrieval.diversify(fused, max(KS))
        best, ranks = retrieval._ranks([vhits, thits])
        bm25 = {h.chunk_id: h.rank_score for h in thits}
        top_bm25 = max(bm25.values(), default=0.0) or 1.0
        fused_score = {h.chunk_id: s for h, s, _ in fused}
        sm = {cid: retrieval.smoothed(h, context) for cid, h in best.items()}
        lo, hi = min(sm.values()), max(sm.values())
        spread = hi - lo if hi > lo else 1.0
        top_cos = max(h.similarity for h in best.values())
        qterms = _terms(q.text, stem)
        # sections ranked by their centroid similarity
        sec_sims = sorted({context.get((h.topic_id, h.language, h.heading), 0.0)
                           for h in best.values()}, reverse=True)
        cands = []
        for cid, h in best.items():
            vr, br = ranks[cid]
            sec = context.get((h.topic_id, h.language, h.heading), h.similarity)
            top = context.get((h.topic_id, h.language, None), h.similarity)
            tv = topic_vec.get(h.heading.rsplit(" › ", 1)[0] if h.heading.count(" › ") >= 2
                               else h.heading)
            cterms = _terms(h.content, stem)
            p = rag_eval.Retrieved(h.content, h.topic_key,
                                   rag_eval._sub_of(h.heading, h.module_title, h.topic_title))
            feats = {
                "cos": h.similarity, "sec_cos": sec, "top_cos": top, "smooth": sm[cid],
                "smooth_mm": (sm[cid] - lo) / spread, "bm25": bm25.get(cid, 0.0),
                "bm25_rel": bm25.get(cid, 0.0) / top_bm25,
                "in_vec": float(vr is not None), "in_bm25": float(br is not None),
                "inv_vec_rank": 1.0 / vr if vr else 0.0,
                "inv_bm25_rank": 1.0 / br if br else 0.0,
                "fused": fused_score[cid],
                "first_of_sub": float(ordinal[cid] == first_ord[(h.topic_id, h.language,
                                                                  h.heading)]),
                "log_len": float(np.log1p(len(h.content.split()))),
                "head_cos": float(head_vec[h.heading] @ vec),
                "topic_head_cos": float(tv @ vec) if tv is not None else 0.0,
                "head_overlap": len(qterms & head_terms[h.heading]) / (len(qterms) or 1),
                "content_overlap": len(qterms & cterms) / (len(qterms) or 1),
                "cos_gap": top_cos - h.similarity,
                "sec_rank_inv": 1.0 / (1 + sec_sims.index(
                    context.get((h.topic_id, h.language, h.heading), 0.0))),
            }
            cands.append({
                "id": cid, "section": retrieval._section(h),
                "x": [float(feats[f]) for f in FEATURES],
                "y": rag_eval.belongs(corpus, p, q.target),
            })
        questions.append({
            "corpus": corpus.name, "split": q.split, "qi": qi, "text": q.text,
            "cands": cands, "baseline": [h.chunk_id for h, _, _ in base[:max(KS)]],
        })
    return questions


# --- fit --------------------------------------------------------------------------------------

def recall_of(order_ids: list[list[str]], qs: list[dict]) -> dict[int, float]:
    hits = dict.fromkeys(KS, 0)
    for ids, q in zip(order_ids, qs, strict=True):
        label = {c["id"]: c["y"] for c in q["cands"]}
        first = next((i for i, cid in enumerate(ids) if label[cid]), None)
        for k in KS:
            hits[k] += first is not None and first < k
    return {k: hits[k] / len(qs) for k in KS}


def ranked(q: dict, scores: np.ndarray) -> list[str]:
    order = sorted(range(len(q["cands"])), key=lambda i: (-scores[i], q["cands"][i]["id"]))
    items = [(q["cands"][i], scores[i]) for i in order]
    # rag.retrieval.diversify: one passage per sub-section among the first five
    first, taken = [], set()
    for c, _ in items:
        if len(first) < max(KS) and c["section"] not in taken:
            first.append(c["id"])
            taken.add(c["section"])
    return first


class Scaler:
    def __init__(self, x: np.ndarray) -> None:
        self.mu, self.sd = x.mean(0), x.std(0) + 1e-9

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mu) / self.sd


def _xy(qs: list[dict], cols: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.array([c["x"] for q in qs for c in q["cands"]])[:, cols]
    y = np.array([c["y"] for q in qs for c in q["cands"]], dtype=float)
    g = np.array([i for i, q in enumerate(qs) for _ in q["cands"]])
    return x, y, g


def fit_logistic(qs: list[dict], cols: list[int], c: float):
    from sklearn.linear_model import LogisticRegression

    x, y, _ = _xy(qs, cols)
    sc = Scaler(x)
    m = LogisticRegression(C=c, max_iter=2000).fit(sc(x), y)
    w = m.coef_[0]
    return lambda xx: sc(xx) @ w, (sc, w)


def fit_pairwise(qs: list[dict], cols: list[int], c: float):
    """RankNet-style: logistic loss on (positive - negative) differences within a question,
    each question weighted equally; L2 with strength 1/c."""
    x, y, g = _xy(qs, cols)
    sc = Scaler(x)
    xs = sc(x)
    diffs, wts = [], []
    for gi in np.unique(g):
        idx = np.where(g == gi)[0]
        pos, neg = idx[y[idx] == 1], idx[y[idx] == 0]
        if not len(pos) or not len(neg):
            continue
        d = (xs[pos][:, None, :] - xs[neg][None, :, :]).reshape(-1, xs.shape[1])
        diffs.append(d)
        wts.append(np.full(len(d), 1.0 / len(d)))
    d = np.concatenate(diffs)
    wt = np.concatenate(wts)
    wt = wt / wt.sum() * len(diffs)
    w = np.zeros(d.shape[1])
    lam = 1.0 / c
    from scipy.optimize import minimize

    def loss(w):
        z = d @ w
        lz = np.logaddexp(0, -z)
        p = 1 / (1 + np.exp(z))  # sigmoid(-z)
        return (wt @ lz + 0.5 * lam * w @ w,
                -(d.T @ (wt * p)) + lam * w)

    w = minimize(loss, w, jac=True, method="L-BFGS-B").x
    return lambda xx: sc(xx) @ w, (sc, w)


def _fit_listwise(qs: list[dict], cols: list[int], c: float, offset: bool):
    """ListNet-style: per question, the softmax probability mass on the positive candidates
    (-log of it, averaged over questions); L2 with strength 1/c. With `offset`, the current
    fused score enters with an unpenalised weight, so the other features (penalised) learn a
    correction to today's ranking, shrunk toward it."""
    from scipy.optimize import minimize

    x, y, g = _xy(qs, cols)
    sc = Scaler(x)
    xs = sc(x)
    fused = np.array([cc["x"][FEATURES.index("fused")] for q in qs for cc in q["cands"]])
    if offset:
        xs = np.column_stack([fused / fused.std(), xs])
    groups = [np.where(g == gi)[0] for gi in np.unique(g)]
    groups = [(i, y[i] == 1) for i in groups if y[i].any()]
    lam = np.full(xs.shape[1], 1.0 / c)
    if offset:
        lam[0] = 0.0

    def loss(w):
        total, grad = 0.0, np.zeros_like(w)
        for idx, pos in groups:
            xi = xs[idx]
            z = xi @ w
            m = z.max()
            e = np.exp(z - m)
            p_all = e / e.sum()
            p_pos = e[pos] / e[pos].sum()
            total += -(np.log(e[pos].sum()) - np.log(e.sum()))
            grad += -(p_pos @ xi[pos]) + p_all @ xi
        n = len(groups)
        return total / n + 0.5 * (lam * w) @ w, grad / n + lam * w

    w0 = np.zeros(xs.shape[1])
    if offset:
        w0[0] = 1.0
    w = minimize(loss, w0, jac=True, method="L-BFGS-B").x
    sd = fused.std()
    if offset:
        return (lambda xx: sc(xx[:, :-1]) @ w[1:] + xx[:, -1] / sd * w[0]), (sc, w)
    return (lambda xx: sc(xx) @ w), (sc, w)


def fit_listwise(qs, cols, c):
    return _fit_listwise(qs, cols, c, offset=False)


def fit_listwise_off(qs, cols, c):
    return _fit_listwise(qs, cols, c, offset=True)


ALL = (*FEATURES, *AGGREGATES)
FEATURE_SETS = {
    "agg": ["fused", *AGGREGATES],
    "core_agg": ["cos", "sec_cos", "top_cos", "smooth_mm", "bm25_rel", "inv_vec_rank",
                 "inv_bm25_rank", "fused", *AGGREGATES],
    "base3": ["smooth_mm", "bm25_rel", "fused"],
    "core": ["cos", "sec_cos", "top_cos", "smooth_mm", "bm25_rel", "inv_vec_rank",
             "inv_bm25_rank", "fused"],
    "all": list(FEATURES),
    "nofused": [f for f in FEATURES if f != "fused"],
    "core_head": ["cos", "sec_cos", "top_cos", "smooth_mm", "bm25_rel", "inv_vec_rank",
                  "inv_bm25_rank", "fused", "head_cos", "head_overlap", "first_of_sub",
                  "log_len"],
}
MODELS = {"logistic": fit_logistic, "pairwise": fit_pairwise, "listwise": fit_listwise,
          "listwise_off": fit_listwise_off}
OFFSET_MODELS = {"listwise_off"}
CS = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


def evaluate(qs_train, qs_test, model, fset, c):
    names = FEATURE_SETS[fset]
    if model in OFFSET_MODELS:
        names = [f for f in names if f != "fused"]
    cols = [ALL.index(f) for f in names]
    score, params = MODELS[model](qs_train, cols, c)
    used = [*cols, ALL.index("fused")] if model in OFFSET_MODELS else cols
    orders = [ranked(q, score(np.array([cc["x"] for cc in q["cands"]])[:, used]))
              for q in qs_test]
    return orders, params


def cv(qs: list[dict], model, fset, c, folds=5, seed=0) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    fold = rng.permutation(len(qs)) % folds
    orders: list[list[str] | None] = [None] * len(qs)
    for f in range(folds):
        train = [q for q, ff in zip(qs, fold, strict=True) if ff != f]
        test_i = [i for i, ff in enumerate(fold) if ff == f]
        o, _ = evaluate(train, [qs[i] for i in test_i], model, fset, c)
        for i, oo in zip(test_i, o, strict=True):
            orders[i] = oo
    return orders  # type: ignore[return-value]


def _fmt(r: dict[int, float]) -> str:
    return " ".join(f"{r[k]:.3f}" for k in KS)


def per_corpus(orders, qs) -> str:
    parts = []
    for name in ("pg", "demo"):
        idx = [i for i, q in enumerate(qs) if q["corpus"] == name]
        parts.append(f"{name} {_fmt(recall_of([orders[i] for i in idx], [qs[i] for i in idx]))}")
    return " | ".join(parts)


def add_aggregates(data: list[dict]) -> None:
    """Section- and topic-level features from a question's candidate list (CombMNZ-like votes
    of a passage's sub-section and topic), appended to each candidate's features."""
    fi = FEATURES.index("fused")
    for q in data:
        cands = q["cands"]
        if len(cands[0]["x"]) > len(FEATURES):
            continue
        order = sorted(range(len(cands)), key=lambda i: -cands[i]["x"][fi])
        rank = {i: r for r, i in enumerate(order, 1)}
        by_sec: dict[str, list[float]] = {}
        by_top: dict[str, list[float]] = {}
        for c in cands:
            by_sec.setdefault(c["section"], []).append(c["x"][fi])
            by_top.setdefault(c["section"].split("/", 1)[0], []).append(c["x"][fi])
        for i, c in enumerate(cands):
            sec, top = by_sec[c["section"]], by_top[c["section"].split("/", 1)[0]]
            c["x"] = [*c["x"], len(sec), len(top), max(sec), max(top), sum(sec), 1 / rank[i]]


def fit(data: list[dict], heldout: str | None, models: list[str], fsets: list[str]) -> None:
    add_aggregates(data)
    tune = [q for q in data if q["split"] == "tune"]
    print(f"tune questions: {len(tune)}; candidates/question "
          f"{np.mean([len(q['cands']) for q in tune]):.1f}; questions with a positive "
          f"candidate {np.mean([any(c['y'] for c in q['cands']) for q in tune]):.3f}")
    print(f"current learnbot (tune)     {per_corpus([q['baseline'] for q in tune], tune)}")
    if heldout is None:
        results = []
        for model in models:
            for fset in fsets:
                for c in CS:
                    # mean over 3 fold assignments, to steady the choice
                    rs = []
                    for seed in range(3):
                        orders = cv(tune, model, fset, c, seed=seed)
                        rs.append((orders, recall_of(orders, tune)))
                    pooled = {k: np.mean([r[k] for _, r in rs]) for k in KS}
                    line = per_corpus(rs[0][0], tune)
                    print(f"{model:8s} {fset:8s} C={c:<6} pooled {_fmt(pooled)}  "
                          f"(seed0: {line})", flush=True)
                    results.append((pooled[1] + pooled[3], model, fset, c))
        results.sort(reverse=True)
        print("best by tune-CV R@1+R@3:", results[:5])
        return
    model, fset, c = heldout.split(":")
    held = [q for q in data if q["split"] == "heldout"]
    orders, (sc, w) = evaluate(tune, held, model, fset, float(c))
    print(f"current learnbot (held-out) {per_corpus([q['baseline'] for q in held], held)}")
    print(f"{heldout} (held-out)   {per_corpus(orders, held)}")
    cols = FEATURE_SETS[fset]
    if model in OFFSET_MODELS:
        cols = [f for f in cols if f != "fused"]
        print("fused weight (over its sd):", round(float(w[0]), 3))
        w = w[1:]
    print("weights (standardised):", {f: round(float(v), 3) for f, v in zip(cols, w,
                                                                            strict=True)})
    print("mean:", dict(zip(cols, sc.mu.round(4).tolist(), strict=True)))
    print("sd:", dict(zip(cols, sc.sd.round(4).tolist(), strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=("collect", "fit"))
    parser.add_argument("--heldout", metavar="MODEL:FSET:C",
                        help="evaluate this one configuration on the held-out halves")
    parser.add_argument("--models", default=",".join(MODELS),
                        help="models to cross-validate (comma-separated)")
    parser.add_argument("--fsets", default=",".join(FEATURE_SETS),
                        help="feature sets to cross-validate (comma-separated)")
    args = parser.parse_args()
    if args.step == "collect":
        data = asyncio.run(_collect())
        CACHE.write_bytes(pickle.dumps(data))
        print(f"cached {len(data)} questions to {CACHE}")
    else:
        fit(pickle.loads(CACHE.read_bytes()), args.heldout, args.models.split(","),
            args.fsets.split(","))


if __name__ == "__main__":
    main()
