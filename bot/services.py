"""The question pipeline as the bot configures it: one `RagService` per process.

Building it is cheap — the embedding model loads on first use (or in the background at start,
see `warm_up`) — so every dispatcher can have one, including in tests that never ask anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from bot.config import Settings
from rag.embedding import get_embedder
from rag.llm import LLMClient
from rag.service import RagConfig, RagService

log = logging.getLogger(__name__)


def build_llm(settings: Settings) -> LLMClient | None:
    if not settings.llm_enabled:
        return None
    assert settings.llm_base_url and settings.llm_model
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    return LLMClient(settings.llm_base_url, settings.llm_model, api_key=key,
                     timeout=settings.llm_timeout_seconds, retries=settings.llm_max_retries)


def build_rag(settings: Settings) -> RagService:
    return RagService(
        get_embedder(settings.embedding_model),
        build_llm(settings),
        RagConfig(min_similarity=settings.rag_min_similarity,
                  ef_search=settings.rag_hnsw_ef_search,
                  fold_after=settings.chat_summary_after_messages),
    )


def warm_up(rag: RagService) -> asyncio.Task[None]:
    """Load the embedding model in the background so the first question isn't the slow one."""

    async def load() -> None:
        # A daemon thread of its own, not the loop's default executor: a SIGTERM during the
        # load must not make the process wait for it on the way out (asyncio.run joins the
        # default executor's threads).
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def work() -> None:
            try:
                rag.embedder.load()
            except Exception as exc:
                outcome = (done.set_exception, exc)
            else:
                outcome = (done.set_result, None)
            with contextlib.suppress(RuntimeError):  # the loop is already gone
                loop.call_soon_threadsafe(*outcome)

        threading.Thread(target=work, name="embedding-warm-up", daemon=True).start()
        try:
            await done
            log.info("embedding model %s ready", rag.embedder.model_name)
        except Exception as exc:  # the first question will report it again
            log.warning("embedding model failed to load: %s", exc)

    return asyncio.create_task(load())
