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


# How the LLM is told which language to answer in.
LANGUAGE_NAMES = {"en": "English", "fil": "Filipino (Tagalog; everyday Taglish is fine)"}


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
    language: str = "en",
) -> list[ChatMessage]:
    """persona + summary + recent turns + numbered passages + question, within `budget`.

    The system text, the question and the best passage always go in; then the other passages,
    the summary (capped), and as many of the most recent turns as still fit. A learner whose
    language isn't English is answered in theirs (the English prompt stays as it was)."""
    system = system_prompt(course_title, persona, profile)
    if language != "en":
        name = LANGUAGE_NAMES.get(language, language)
        system += (f"\n\nThe learner reads {name}: write your answer in {name}, keeping SQL "
                   "keywords, code and names exactly as they are.")
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


MIN_LEAD_SENTENCES = 2
# A supporting span must score close to the lead's best sentence: a weaker one from another
# passage is more often a neighbouring subject than more of the answer.
SUPPORT_RATIO = 0.85
MAX_SUPPORT_SENTENCES = 2


def _span(units: list[int], scores: list[float], cands: list[Candidate], *, least: int,
          most: int, max_chars: int) -> list[int]:
    """The contiguous run of `units` (prose candidates of one passage, in order) around its
    best sentence: grown toward the better neighbour while the run is shorter than `least`,
    or the neighbour scores at least half the best, up to `most` sentences and `max_chars`."""
    if not units:
        return []
    best = max(range(len(units)), key=lambda j: scores[units[j]])
    lo = hi = best
    chars = len(cands[units[best]].text)
    while hi - lo + 1 < most:
        options = [j for j in (lo - 1, hi + 1) if 0 <= j < len(units)]
        if not options:
            break
        j = max(options, key=lambda j: scores[units[j]])
        cost = len(cands[units[j]].text)
        wanted = hi - lo + 1 < least or scores[units[j]] >= 0.5 * scores[units[best]]
        if not wanted or chars + cost > max_chars:
            break
        lo, hi = min(lo, j), max(hi, j)
        chars += cost
    return units[lo:hi + 1]


def extractive_answer(
    passages: list[Passage], cands: list[Candidate], scores: list[float], *,
    max_sentences: int = MAX_EXCERPT_SENTENCES, max_chars: int = MAX_EXCERPT_CHARS,
    note: str | None = None,
) -> Answer:
    """Lead with the best-matching contiguous span (2-4 sentences, in order) of the best
    passage, then at most one short supporting span from another passage, each cited.

    Quoting one passage's consecutive sentences keeps the answer in the section that answers
    the question; single best sentences picked across passages read as a collage. A code block
    right after a quoted sentence comes along: the sentence usually introduces it."""
    if not passages or not cands:
        return Answer("", "extractive", [], note)
    by_n: dict[int, list[int]] = {}
    for i, c in enumerate(cands):
        if not c.is_code:
            by_n.setdefault(c.n, []).append(i)
    lead_n = next((p.n for p in passages if p.n in by_n), None)
    if lead_n is None:  # nothing but code: show the best passage's first block
        first = next(i for i, c in enumerate(cands) if c.n == passages[0].n)
        return Answer(f"{cands[first].text} [{cands[first].n}]", "extractive",
                      [cands[first].n], note)
    lead = _span(by_n[lead_n], scores, cands, least=MIN_LEAD_SENTENCES, most=max_sentences,
                 max_chars=max_chars)
    spans = [(lead_n, lead)]
    used = sum(len(cands[i].text) for i in lead)
    best_lead = max(scores[i] for i in lead)
    others = [i for n, units in by_n.items() if n != lead_n for i in units]
    if others:
        top = max(others, key=lambda i: scores[i])
        if scores[top] >= SUPPORT_RATIO * best_lead and best_lead > 0:
            support = _span(by_n[cands[top].n], scores, cands, least=1,
                            most=MAX_SUPPORT_SENTENCES, max_chars=max_chars - used)
            if support and used + sum(len(cands[i].text) for i in support) <= max_chars:
                spans.append((cands[top].n, support))
                used += sum(len(cands[i].text) for i in support)
    parts: list[str] = []
    cited: list[int] = []
    for n, span in spans:
        text = ""
        for i in span:
            text = f"{text} {cands[i].text}" if text else cands[i].text
            nxt = i + 1
            if nxt < len(cands) and cands[nxt].is_code and cands[nxt].n == n \
                    and used + len(cands[nxt].text) <= max_chars:
                text = f"{text}\n\n{cands[nxt].text}\n\n"
                used += len(cands[nxt].text)
        parts.append(f"{text.strip()} [{n}]")
        cited.append(n)
    return Answer("\n\n".join(parts), "extractive", cited, note)


def unknown_answer() -> Answer:
    return Answer("", "unknown", [])
