"""Answer synthesis: the LLM prompt (within a token budget), citation checking, and the built-in
extractive answer used when no LLM is configured or it fails.

Citations are numbers of passages that were actually retrieved and shown to the model: any `[n]`
the model invents is removed, so a learner never follows a citation to nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from rag.chunking import count_tokens, split_blocks, split_sentences
from rag.llm import ChatMessage
from rag.retrieval import Passage

AnswerMode = Literal["llm", "extractive", "unknown"]

TOKEN_BUDGET = 3000  # prompt tokens: fits the 4k context of the smallest local models
SUMMARY_BUDGET = 400
MAX_EXCERPT_SENTENCES = 4
MAX_EXCERPT_CHARS = 1400

PERSONA_STYLES = {
    "normal": "",
    "sports": "Where an analogy helps, draw it from sports (teams, matches, league tables).",
    "cooking": "Where an analogy helps, draw it from cooking (recipes, ingredients, kitchens).",
    "adventure": "Where an analogy helps, draw it from expeditions and adventure travel.",
}
PROFILE_STYLES = {
    "non_it_migrant": "The learner is new to IT: explain every technical term in plain words.",
    "rote_memorizer": "Explain why things work, not only what to type, so it sticks.",
    "english_hesitant": "Use short, simple English sentences and avoid idioms.",
    "last_minute_panic": "Lead with the one thing to remember, then a minimal example.",
    "pseudo_coder": "Be precise: show exact, runnable SQL and point out common mistakes.",
}


@dataclass
class Turn:
    role: str  # "user" | "assistant"
    content: str


@dataclass
class Answer:
    text: str  # Markdown-ish plain text, with [n] markers
    mode: AnswerMode
    citations: list[int] = field(default_factory=list)  # passage numbers, first use first
    note: str | None = None  # why the fallback was used, for the learner and the logs


# --- citations --------------------------------------------------------------------------------

_CITE = re.compile(r"\[(\s*\d+(?:\s*[,;]\s*\d+)*\s*)\]")


def check_citations(text: str, valid: set[int]) -> tuple[str, list[int]]:
    """Drop `[n]` markers that name no retrieved passage; return the text and cited numbers."""
    cited: list[int] = []

    def fix(m: re.Match[str]) -> str:
        nums = [int(x) for x in re.split(r"[,;]", m[1]) if x.strip()]
        keep = [n for n in nums if n in valid]
        for n in keep:
            if n not in cited:
                cited.append(n)
        return "".join(f"[{n}]" for n in dict.fromkeys(keep))

    fixed = _CITE.sub(fix, text)
    fixed = re.sub(r"[ \t]+([.,;:!?])", r"\1", fixed)  # "word [9]." → "word."
    return fixed.strip(), cited


# --- the LLM prompt ---------------------------------------------------------------------------

def _truncate_tokens(text: str, budget: int) -> str:
    if count_tokens(text) <= budget:
        return text
    words = text.split()
    lo, hi = 0, len(words)
    while lo < hi:  # longest prefix within budget
        mid = (lo + hi + 1) // 2
        if count_tokens(" ".join(words[:mid])) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words[:lo]) + " …"


def system_prompt(course_title: str, persona: str = "normal", profile: str | None = None) -> str:
    style = " ".join(s for s in (PERSONA_STYLES.get(persona, ""),
                                 PROFILE_STYLES.get(profile or "", "")) if s)
    return (
        f"You are a friendly tutor for the course \"{course_title}\". Answer the learner's "
        "question using only the numbered course passages you are given. Put the passage "
        "number in square brackets, like [1], right after each statement it supports; cite "
        "only numbers that appear in the passages. If the passages do not answer the "
        "question, say that the course material doesn't cover it, and don't guess. Keep the "
        "answer under 200 words; use ``` fences for SQL."
        + (f" {style}" if style else "")
    )


def passages_block(passages: list[Passage]) -> str:
    return "\n\n".join(
        f"[{p.n}] ({p.topic_title}, module {p.hit.module_no})\n{p.text}" for p in passages
    )


def build_prompt(
    question: str,
    passages: list[Passage],
    *,
    course_title: str,
    persona: str = "normal",
    profile: str | None = None,
    summary: str = "",
    recent: list[Turn] | None = None,
    budget: int = TOKEN_BUDGET,
) -> list[ChatMessage]:
    """persona + summary + recent turns + numbered passages + question, within `budget`.

    The system text, the question and the best passage always go in; then the other passages,
    the summary (capped), and as many of the most recent turns as still fit."""
    system = system_prompt(course_title, persona, profile)
    used = count_tokens(system) + count_tokens(question) + 20
    kept: list[Passage] = []
    for p in passages:
        cost = count_tokens(p.text) + 12
        if kept and used + cost > budget:
            break
        kept.append(p)
        used += cost
    summary = _truncate_tokens(summary.strip(), min(SUMMARY_BUDGET, max(0, budget - used)))
    if summary:
        system += "\n\nSummary of the earlier conversation with this learner:\n" + summary
        used += count_tokens(summary) + 10
    history: list[ChatMessage] = []
    for turn in reversed(recent or []):
        # Old answers' [n] point at old passages; left in, they'd be misread as these ones.
        content = _CITE.sub("", turn.content)
        cost = count_tokens(content) + 4
        if used + cost > budget:
            break
        history.insert(0, ChatMessage(turn.role, content))
        used += cost
    final = f"Course passages:\n\n{passages_block(kept)}\n\nQuestion: {question}"
    return [ChatMessage("system", system), *history, ChatMessage("user", final)]


def from_llm(text: str, passages: list[Passage]) -> Answer:
    fixed, cited = check_citations(text, {p.n for p in passages})
    return Answer(fixed, "llm", cited)


# --- the extractive answer --------------------------------------------------------------------

@dataclass(frozen=True)
class Candidate:
    n: int  # passage number
    index: int  # position within the passage
    text: str
    is_code: bool


def candidates(passages: list[Passage]) -> list[Candidate]:
    """Sentences and code blocks of the passages; overlap repeats and exercises left out."""
    seen: set[str] = set()
    out: list[Candidate] = []
    for p in passages:
        index = 0
        for block in split_blocks(p.text):
            units = [block.text] if block.is_code else split_sentences(block.text)
            for unit in units:
                key = " ".join(unit.split())
                if key in seen or unit.lower().startswith("try it"):
                    continue
                seen.add(key)
                out.append(Candidate(p.n, index, unit, block.is_code))
                index += 1
    return out


def extractive_answer(
    passages: list[Passage], cands: list[Candidate], scores: list[float], *,
    max_sentences: int = MAX_EXCERPT_SENTENCES, max_chars: int = MAX_EXCERPT_CHARS,
    note: str | None = None,
) -> Answer:
    """The best-scoring sentences of the top passages, in passage order then text order.

    A code block directly after a chosen sentence comes along: the sentence usually introduces
    it ("It goes after WHERE: ...")."""
    ranked = sorted(range(len(cands)), key=lambda i: -scores[i])
    chosen: set[int] = set()
    chars = 0
    for i in ranked:
        if len([c for c in chosen if not cands[c].is_code]) >= max_sentences:
            break
        c = cands[i]
        if c.is_code:
            continue
        if chars + len(c.text) > max_chars and chosen:
            continue
        chosen.add(i)
        chars += len(c.text)
        nxt = i + 1
        if nxt < len(cands) and cands[nxt].is_code and cands[nxt].n == c.n \
                and chars + len(cands[nxt].text) <= max_chars:
            chosen.add(nxt)
            chars += len(cands[nxt].text)
    order = {p.n: rank for rank, p in enumerate(passages)}
    picked = sorted(chosen, key=lambda i: (order[cands[i].n], cands[i].index))
    parts: list[str] = []
    cited: list[int] = []
    for n in dict.fromkeys(cands[i].n for i in picked):
        units = [cands[i] for i in picked if cands[i].n == n]
        text = ""
        for u in units:
            sep = "\n\n" if u.is_code or (text and text.endswith("```")) else " "
            text = f"{text}{sep}{u.text}" if text else u.text
        parts.append(f"{text} [{n}]")
        cited.append(n)
    return Answer("\n\n".join(parts), "extractive", cited, note)


def unknown_answer() -> Answer:
    return Answer("", "unknown", [])
