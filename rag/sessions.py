"""Conversation memory: when a session's unsummarized messages pass a threshold, the older ones
are folded into `summary` (by the LLM, or extractively) and only the recent ones stay verbatim.

The fold is a compare-and-set on `summary_message_count`, so two answers finishing at once
can't both fold the same turns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from rag.answer import Turn
from rag.chunking import split_sentences
from rag.llm import ChatMessage, LLMClient, LLMError

log = logging.getLogger(__name__)

FOLD_AFTER = 8  # unsummarized messages (4 question/answer turns) before folding
KEEP_RECENT = 4  # messages left verbatim after a fold
SUMMARY_MAX_CHARS = 1500


@dataclass(frozen=True)
class FoldPlan:
    start: int  # first message (0-based, in session order) to fold
    end: int  # one past the last message to fold; the new summary_message_count


def plan_fold(total: int, summarized: int, *, fold_after: int = FOLD_AFTER,
              keep_recent: int = KEEP_RECENT) -> FoldPlan | None:
    if total - summarized <= fold_after:
        return None
    end = total - keep_recent
    return FoldPlan(summarized, end) if end > summarized else None


def _gist(text: str, limit: int = 160) -> str:
    first = next(iter(split_sentences(" ".join(text.split()))), "")
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"


def extractive_summary(prior: str, turns: list[Turn], max_chars: int = SUMMARY_MAX_CHARS) -> str:
    """One line per folded question with the gist of its answer; oldest lines go first when the
    summary outgrows `max_chars`."""
    lines = [line for line in prior.splitlines() if line.strip()]
    question: str | None = None
    for turn in turns:
        if turn.role == "user":
            if question is not None:
                lines.append(f"- Asked: {_gist(question)}")
            question = turn.content
        elif question is not None:
            lines.append(f"- Asked: {_gist(question)} — answer: {_gist(turn.content)}")
            question = None
    if question is not None:
        lines.append(f"- Asked: {_gist(question)}")
    while len("\n".join(lines)) > max_chars and len(lines) > 1:
        lines.pop(0)
    return "\n".join(lines)[-max_chars:]


def summary_prompt(prior: str, turns: list[Turn]) -> list[ChatMessage]:
    transcript = "\n".join(f"{t.role.upper()}: {t.content}" for t in turns)
    return [
        ChatMessage("system", (
            "You keep a running summary of a learner's conversation with a course tutor. "
            "Merge the earlier summary and the new exchanges into one summary of at most 120 "
            "words: what the learner asked, what they understood, and what still confuses "
            "them. Plain sentences, no preamble."
        )),
        ChatMessage("user", f"Earlier summary:\n{prior or '(none)'}\n\nNew exchanges:\n"
                            f"{transcript}"),
    ]


async def summarize(llm: LLMClient | None, prior: str, turns: list[Turn]) -> tuple[str, str]:
    """(summary, how: "llm" | "extractive")."""
    if llm is not None:
        try:
            text = await llm.chat(summary_prompt(prior, turns), max_tokens=300)
            return text[:SUMMARY_MAX_CHARS], "llm"
        except LLMError as exc:
            log.warning("summary by LLM failed (%s); summarizing extractively", exc)
    return extractive_summary(prior, turns), "extractive"
