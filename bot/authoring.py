"""`learnbot ask`: the bot's question pipeline from the shell, for course authors checking
their material — no learner, no quota, no session; `--json` shows everything retrieved."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bot.config import Settings
from bot.services import build_rag
from rag.answer import Answer
from rag.retrieval import Retrieval
from storage import coldcalls, courses
from storage.server import open_database


def add_parser(sub: Any) -> None:
    a = sub.add_parser("ask", help="ask a course a question, as the bot would answer it")
    a.add_argument("--course", required=True, help="course slug")
    a.add_argument("--topic", help="current topic (key, title, or 2.1 = module.topic)")
    a.add_argument("--json", action="store_true", help="print answer, citations and passages")
    a.add_argument("--lang", default="en",
                   help="the learner's language (e.g. fil): its passages, when the course has them")
    a.add_argument("question")


def as_json(course: str, topic: str | None, question: str, ans: Answer,
            found: Retrieval) -> dict[str, Any]:
    by_n = {p.n: p for p in found.passages}
    return {
        "course": course,
        "topic": topic,
        "question": question,
        "mode": ans.mode,
        "note": ans.note,
        "answer": ans.text,
        "citations": [
            {"n": n, "topic_title": by_n[n].topic_title, "module_no": by_n[n].hit.module_no,
             "chunk_id": by_n[n].hit.chunk_id}
            for n in ans.citations
        ],
        "best_similarity": round(found.best_similarity, 4),
        "min_similarity": found.floor,
        "passages": [
            {"n": p.n, "chunk_id": p.hit.chunk_id, "topic_title": p.topic_title,
             "module_no": p.hit.module_no, "module_title": p.hit.module_title,
             "heading": p.hit.heading, "content": p.text, "score": round(p.score, 6),
             "similarity": round(p.hit.similarity, 4), "vector_rank": p.vector_rank,
             "fts_rank": p.fts_rank}
            for p in found.passages
        ],
    }


def as_text(ans: Answer, found: Retrieval) -> str:
    if ans.mode == "unknown":
        return (f"I don't know: nothing in the course is similar enough "
                f"(best similarity {found.best_similarity:.2f} < {found.floor:.2f}).")
    lines = []
    if ans.mode == "extractive":
        lines.append("From the course (excerpts):" + (f"  [LLM failed: {ans.note}]"
                                                      if ans.note else ""))
    lines += [ans.text, "", "Sources:"]
    by_n = {p.n: p for p in found.passages}
    lines += [f"  [{n}] {by_n[n].topic_title} (module {by_n[n].hit.module_no})"
              for n in ans.citations]
    return "\n".join(lines)


async def cmd_ask(settings: Settings, args: argparse.Namespace) -> int:
    rag = build_rag(settings)
    async with open_database(settings.database_url, settings.data_dir) as pool:
        async with pool.acquire() as conn:
            course = await courses.get_by_slug(conn, args.course, args.lang)
            if course is None:
                print(f"learnbot: no course with slug {args.course!r}", file=sys.stderr)
                return 1
            topic_id, topic_title = None, None
            if args.topic:
                found_topics = await coldcalls.resolve_topic(conn, course.id, args.topic)
                if len(found_topics) != 1:
                    what = "matches several topics" if found_topics else "matches no topic"
                    print(f"learnbot: --topic {args.topic!r} {what} of {args.course}",
                          file=sys.stderr)
                    return 1
                topic_id, topic_title = found_topics[0].id, found_topics[0].title
            found = await rag.retrieve(conn, course.id, args.question, topic_id=topic_id,
                                       lang=args.lang)
        ans = await rag.compose(args.question, found, course_title=course.title, lang=args.lang)
    if args.json:
        print(json.dumps(as_json(course.slug, topic_title, args.question, ans, found),
                         indent=2, ensure_ascii=False))
    else:
        print(as_text(ans, found))
    return 0
