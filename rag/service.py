"""The question pipeline end to end, shared by the bot and `learnbot ask`:

quota (typed prompts only) → embed → hybrid retrieve → answer (LLM, else extractive) → store
both turns → fold old turns into the session summary when due.

No Telegram here: the bot passes a `busy` context (its typing indicator) and renders `Reply`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

import asyncpg
import numpy as np

from rag import answer as answering
from rag import retrieval, sessions
from rag.answer import Answer, Turn
from rag.embedding import Embedder
from rag.llm import LLMClient, LLMError
from rag.retrieval import Mode, Retrieval
from storage import chat, chunks, feedback, quota
from storage.chat import AskContext
from storage.chunks import DEFAULT_EF_SEARCH
from storage.quota import QuotaState
from storage.uow import Transactor

log = logging.getLogger(__name__)

# Longer text is refused before anything is spent: a question, not a pasted document.
MAX_QUESTION_CHARS = 2000


@dataclass(frozen=True)
class RagConfig:
    min_similarity: float = retrieval.MIN_SIMILARITY
    ef_search: int = DEFAULT_EF_SEARCH
    passages: int = retrieval.PASSAGES
    fold_after: int = sessions.FOLD_AFTER
    keep_recent: int = sessions.KEEP_RECENT


@dataclass
class Reply:
    answer: Answer
    retrieval: Retrieval | None
    quota: QuotaState | None = None  # after this question (typed questions only)
    refused: bool = False  # typed, and the module's quota was used up
    refunded: bool = False  # typed, but nothing to answer from: the prompt was given back
    session_id: uuid.UUID | None = None
    citations: list[dict] = field(default_factory=list)
    answer_id: uuid.UUID | None = None  # the stored answer (rag_answers), for 👍/👎


def passage_records(found: Retrieval | None) -> list[dict]:
    """Every passage the answer was made from, best first, as kept with the answer."""
    if found is None:
        return []
    return [
        {"n": p.n, "chunk_id": p.hit.chunk_id, "topic_title": p.topic_title,
         "heading": p.hit.heading, "score": round(p.score, 4),
         "similarity": round(p.hit.similarity, 4)}
        for p in found.passages
    ]


def citation_records(ans: Answer, found: Retrieval | None) -> list[dict]:
    """What a citation points at, for storage and display: only passages retrieved."""
    if found is None:
        return []
    by_n = {p.n: p for p in found.passages}
    return [
        {"n": n, "chunk_id": by_n[n].hit.chunk_id, "topic_title": by_n[n].topic_title,
         "module_no": by_n[n].hit.module_no,
         "topic_id": str(by_n[n].hit.topic_id) if by_n[n].hit.topic_id else None}
        for n in ans.citations if n in by_n
    ]


class RagService:
    def __init__(self, embedder: Embedder, llm: LLMClient | None = None,
                 config: RagConfig | None = None) -> None:
        self.embedder = embedder
        self.llm = llm
        self.config = config or RagConfig()

    async def retrieve(
        self, source: Transactor | asyncpg.Connection, course_id: uuid.UUID, question: str, *,
        topic_id: uuid.UUID | None = None, mode: Mode = "hybrid", floor: float | None = None,
        limit: int | None = None, lang: str = "en",
    ) -> Retrieval:
        """Embed, then search (in `lang`, the learner's language, when the course is written
        in it; else in its default language). Given a `Transactor`, BM25 runs on a connection
        of its own while the question is embedded (the encoder's thread and PostgreSQL work
        side by side), and a second connection is taken for the vector search once the
        embedding is there: none is held while the embedding is waited for. Tools that
        already hold a connection may pass it (then the steps run one after the other)."""
        if isinstance(source, asyncpg.Connection) or mode != "hybrid":
            vec = await self.embedder.embed_query(question) if mode != "fts" else None
            if isinstance(source, asyncpg.Connection):
                return await self._search(source, course_id, question, vec, topic_id, mode,
                                          floor, limit, lang)
            async with source.read() as conn:
                return await self._search(conn, course_id, question, vec, topic_id, mode,
                                          floor, limit, lang)
        embedding = asyncio.ensure_future(self.embedder.embed_query(question))
        try:
            async with source.read() as conn:
                language, fallback = await chunks.search_languages(conn, course_id, lang)
                text_hits = await retrieval.lexical_candidates(
                    conn, course_id, question, None, language=language,
                    lexical_gate=self._gate(language))
            vec = await embedding
        finally:
            # Not waited for on failure: the thread finishes on its own, its result unused.
            embedding.cancel()
        async with source.read() as conn:
            return await self._search(conn, course_id, question, vec, topic_id, mode, floor,
                                      limit, lang, languages=(language, fallback),
                                      text_hits=text_hits)

    def _gate(self, language: str) -> bool:
        return language != "en" and self.embedder.english_only

    async def _search(
        self, conn: asyncpg.Connection, course_id: uuid.UUID, question: str,
        vec: np.ndarray | None, topic_id: uuid.UUID | None, mode: Mode, floor: float | None,
        limit: int | None, lang: str, *, languages: tuple[str, str] | None = None,
        text_hits: list[chunks.Hit] | None = None,
    ) -> Retrieval:
        language, fallback = languages or await chunks.search_languages(conn, course_id, lang)
        found = await retrieval.retrieve(
            conn, course_id, question, vec, current_topic=topic_id, mode=mode,
            limit=limit or self.config.passages,
            floor=self.config.min_similarity if floor is None else floor,
            ef_search=self.config.ef_search, language=language, fallback=fallback,
            lexical_gate=self._gate(language), text_hits=text_hits,
        )
        found.language = language
        found.query_vec = vec
        return found

    async def compose(
        self, question: str, found: Retrieval, *, course_title: str, persona: str = "normal",
        profile: str | None = None, summary: str = "", recent: list[Turn] | None = None,
        on_text: Callable[[str], Awaitable[None]] | None = None, lang: str = "en",
    ) -> Answer:
        """The LLM's answer (streamed to `on_text` as it is written, with citations already
        checked, when given), else the extractive one."""
        if not found.passages:
            return answering.unknown_answer()
        note = None
        if self.llm is not None:
            prompt = answering.build_prompt(
                question, found.passages, course_title=course_title, persona=persona,
                profile=profile, summary=summary, recent=recent, language=lang,
            )
            shown = None
            if on_text is not None:
                valid = {p.n for p in found.passages}

                async def shown(text: str) -> None:
                    # a draft never shows a citation the final answer would drop
                    await on_text(answering.check_citations(text, valid)[0])
            try:
                ans = answering.from_llm(await self.llm.chat(prompt, on_text=shown),
                                         found.passages)
                if ans.text:
                    return ans
                note = "the model's reply was empty"
            except LLMError as exc:
                note = str(exc)
                log.warning("LLM answer failed (%s); answering extractively", exc)
        return await self._extractive(found, note)

    async def _extractive(self, found: Retrieval, note: str | None) -> Answer:
        cands = answering.candidates(found.passages)
        prose = [i for i, c in enumerate(cands) if not c.is_code]
        scores = [0.0] * len(cands)
        if found.query_vec is not None and prose:
            vecs = await self.embedder.embed_sentences([cands[i].text for i in prose])
            sims = vecs @ np.asarray(found.query_vec, dtype=np.float32)
            for i, s in zip(prose, sims, strict=True):
                scores[i] = float(s)
        else:  # no vectors (FTS-only): keep each passage's opening sentences
            for i in prose:
                scores[i] = -cands[i].index - 10 * [p.n for p in found.passages].index(cands[i].n)
        return answering.extractive_answer(found.passages, cands, scores, note=note)

    async def ask(
        self, db: Transactor, ctx: AskContext, question: str, *, typed: bool,
        busy: Callable[[], AbstractAsyncContextManager[object]] | None = None,
        on_text: Callable[[str], Awaitable[None]] | None = None, lang: str = "en",
    ) -> Reply:
        """Answer a learner's question in their session. Typed questions spend quota first
        (one atomic statement) and get it back if the bot had nothing to answer from.

        Three short units of work — spend and load the session; search; store both turns —
        with the embedder and the LLM awaited between them, never inside one."""
        state: QuotaState | None = None
        async with db.tx() as conn:
            if typed:
                state = await quota.spend(conn, ctx.user_id, ctx.course_id, ctx.module_no)
                if not state.spent:
                    return Reply(answering.unknown_answer(), None, state, refused=True)
            session = await chat.session_for(conn, ctx.user_id, ctx.course_id, ctx.topic_id)
            history = await chat.messages(conn, session.id, start=session.summary_message_count)
        try:
            async with busy() if busy else contextlib.nullcontext():
                found = await self.retrieve(db, ctx.course_id, question, topic_id=ctx.topic_id,
                                            lang=lang)
                ans = await self.compose(
                    question, found, course_title=ctx.course_title, persona=ctx.persona,
                    profile=ctx.profile, summary=session.summary,
                    recent=[Turn(m.role, m.content) for m in history], on_text=on_text,
                    lang=lang,
                )
        except BaseException:
            if state is not None:
                with contextlib.suppress(Exception):
                    async with db.tx() as conn:
                        await quota.refund(conn, ctx.user_id, ctx.course_id, ctx.module_no)
            raise
        records = citation_records(ans, found)
        stored = ans.text if ans.mode != "unknown" else "(not covered by the course)"
        refunded = state is not None and ans.mode == "unknown"
        async with db.tx() as conn:
            await chat.add_turn(conn, session, question, stored, records)
            answer_id = await feedback.record_answer(
                conn, user_id=ctx.user_id, course_id=ctx.course_id, topic_id=ctx.topic_id,
                session_id=session.id, question=question, answer=stored, mode=ans.mode,
                passages=passage_records(found), citations=records,
            )
            if refunded:
                await quota.refund(conn, ctx.user_id, ctx.course_id, ctx.module_no)
        if refunded and state is not None:
            state = QuotaState(False, state.used - 1, state.quota)
        return Reply(ans, found, state, session_id=session.id, citations=records,
                     refunded=refunded, answer_id=answer_id)

    async def fold_if_due(self, db: Transactor, session_id: uuid.UUID) -> bool:
        """Fold older turns into the summary when enough have piled up; True if it did.
        The summary is written only if nobody folded the same turns meanwhile."""
        async with db.read() as conn:
            session = await chat.get_session(conn, session_id)
            if session is None:
                return False
            total = await chat.message_count(conn, session_id)
            plan = sessions.plan_fold(total, session.summary_message_count,
                                      fold_after=self.config.fold_after,
                                      keep_recent=self.config.keep_recent)
            if plan is None:
                return False
            folded = await chat.messages(conn, session_id, start=plan.start, end=plan.end)
        summary, how = await sessions.summarize(
            self.llm, session.summary, [Turn(m.role, m.content) for m in folded]
        )
        async with db.tx() as conn:
            saved = await chat.save_summary(conn, session_id, summary, folded_from=plan.start,
                                            folded_to=plan.end)
        if saved:
            log.info("session %s: folded messages %d-%d into the summary (%s)",
                     session_id, plan.start, plan.end, how)
        return saved
