"""Prompt building within a budget, citation checking, and the extractive answer."""

from __future__ import annotations

import uuid

from rag.answer import Turn, build_prompt, candidates, check_citations, extractive_answer
from rag.retrieval import Passage
from storage.chunks import Hit


def passage(n: int, text: str, title: str = "Sorting") -> Passage:
    hit = Hit(f"c/t{n}/0", uuid.uuid4(), title, f"t{n}", 1, "Module", f"Module › {title}",
              text, 0.5, 0.5)
    return Passage(n, hit, 1.0 / n, n, None)


def test_citations_to_nothing_are_removed() -> None:
    text, cited = check_citations("Sort with ORDER BY [2]. Limit rows [9]. Both [1, 3, 2].",
                                  {1, 2})
    assert text == "Sort with ORDER BY [2]. Limit rows. Both [1][2]."
    assert cited == [2, 1]


def test_prompt_has_persona_summary_recent_turns_and_numbered_passages() -> None:
    msgs = build_prompt(
        "How do I sort?", [passage(1, "ORDER BY sorts."), passage(2, "LIMIT caps rows.")],
        course_title="SQL", persona="cooking", profile="english_hesitant",
        summary="The learner asked about WHERE.",
        recent=[Turn("user", "What is NULL?"), Turn("assistant", "Unknown [1].")],
    )
    system, *history, final = msgs
    assert "cooking" in system.content and "simple English" in system.content
    assert "The learner asked about WHERE." in system.content
    assert [(m.role, m.content) for m in history] == [
        ("user", "What is NULL?"), ("assistant", "Unknown .")]
    assert "[1] (Sorting, module 1)\nORDER BY sorts." in final.content
    assert "[2] (Sorting, module 1)\nLIMIT caps rows." in final.content
    assert final.content.endswith("Question: How do I sort?")


def test_budget_drops_the_oldest_turns_first() -> None:
    recent = [Turn("user", f"question {i} " + "word " * 200) for i in range(10)]
    msgs = build_prompt("Now?", [passage(1, "text")], course_title="SQL", recent=recent,
                        budget=1200)
    kept = [m.content.split()[1] for m in msgs[1:-1]]
    assert kept and kept == [str(i) for i in range(10 - len(kept), 10)]


def test_extractive_answer_leads_with_a_span_of_the_best_passage_then_one_support() -> None:
    ps = [passage(1, "Irrelevant intro. ORDER BY sorts rows.\n\n```sql\nSELECT 1 ORDER BY 1;\n```"
                     "\n\nTry it: sort books."),
          passage(2, "LIMIT keeps the first rows. Another aside.", "Limiting"),
          passage(3, "OFFSET skips rows.", "Paging")]
    cands = candidates(ps)
    assert not any(c.text.startswith("Try it") for c in cands)
    wanted = {"ORDER BY sorts rows.": 0.9, "LIMIT keeps the first rows.": 0.8,
              "OFFSET skips rows.": 0.79}
    scores = [wanted.get(c.text, 0.1) for c in cands]
    ans = extractive_answer(ps, cands, scores)
    assert ans.mode == "extractive" and ans.citations == [1, 2]
    # the lead is contiguous (at least two sentences, in order, with the code they introduce);
    # one supporting span only, however close the third passage scores
    assert ans.text == ("Irrelevant intro. ORDER BY sorts rows.\n\n```sql\nSELECT 1 ORDER BY 1;"
                        "\n``` [1]\n\nLIMIT keeps the first rows. [2]")


def test_extractive_answer_skips_a_weak_support_and_stays_in_limits() -> None:
    long = " ".join(f"Sentence number {i} about sorting rows in order." for i in range(40))
    ps = [passage(1, long), passage(2, "Unrelated words here.", "Other")]
    cands = candidates(ps)
    scores = [0.9 if c.n == 1 else 0.2 for c in cands]
    ans = extractive_answer(ps, cands, scores)
    assert ans.citations == [1]
    lead = ans.text.removesuffix(" [1]")
    assert 2 <= lead.count("Sentence number") <= 4 and len(ans.text) < 4096
