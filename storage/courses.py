"""Courses and their content: the import upsert and the read queries the bot needs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from content.course_format import CourseSource
from storage.users import back_columns, schedule_back_sql


@dataclass
class ImportReport:
    course_id: uuid.UUID
    slug: str
    created: bool
    topics_added: list[str] = field(default_factory=list)
    topics_updated: int = 0
    topics_archived: list[str] = field(default_factory=list)
    quiz_questions: int = 0
    cold_calls: int = 0
    suggestions: int = 0
    variants: int = 0
    chunks: int | None = None  # RAG passages, filled in by the import orchestration
    chunks_embedded: int = 0
    chunks_removed: int = 0
    translations: dict[str, int] = field(default_factory=dict)  # language → topics translated

    def summary(self) -> str:
        parts = [
            f"course '{self.slug}' {'created' if self.created else 'updated'}",
            f"{len(self.topics_added)} topics added",
            f"{self.topics_updated} kept",
            f"{len(self.topics_archived)} archived",
            f"{self.quiz_questions} quiz questions",
            f"{self.cold_calls} cold-call prompts",
            f"{self.suggestions} suggestions",
            f"{self.variants} persona variants",
        ]
        for lang, n in sorted(self.translations.items()):
            parts.append(f"{n} topics in '{lang}'")
        if self.chunks is not None:
            parts.append(f"{self.chunks} passages ({self.chunks_embedded} embedded, "
                         f"{self.chunks_removed} removed)")
        return ", ".join(parts)


_NOW = "coalesce($2::timestamptz, now())"


async def import_course(conn: asyncpg.Connection, src: CourseSource, *,
                        now: datetime | None = None) -> ImportReport:
    """Upsert a parsed course in place. Run inside the caller's transaction.

    Topics are matched by key: existing rows keep their ids (and so learners' progress);
    topics no longer in the source are archived and leave the schedule; each learner's
    `last_priority` is re-pointed at the same journey under its new priority."""
    row = await conn.fetchrow(
        """
        INSERT INTO courses (slug, title, description, prompt_quota, pass_mark,
                             quiz_cooldown_minutes, personas, source_hash)
        VALUES ($1, $2, $3, $4, $5, $6, $7::persona[], $8)
        ON CONFLICT (slug) DO UPDATE SET
            title = EXCLUDED.title, description = EXCLUDED.description,
            prompt_quota = EXCLUDED.prompt_quota, pass_mark = EXCLUDED.pass_mark,
            quiz_cooldown_minutes = EXCLUDED.quiz_cooldown_minutes,
            personas = EXCLUDED.personas, source_hash = EXCLUDED.source_hash
        RETURNING id, (xmax = 0) AS created
        """,
        src.slug, src.title, src.description, src.prompt_quota, src.pass_mark,
        src.quiz_cooldown_minutes, src.personas, src.source_hash,
    )
    course_id: uuid.UUID = row["id"]
    report = ImportReport(course_id, src.slug, row["created"])

    # Where each learner stands, by topic, before priorities move.
    positions = await conn.fetch(
        """
        SELECT cu.id, j.topic_id FROM course_users cu
        JOIN journeys j ON j.course_id = cu.course_id AND j.priority = cu.last_priority
                        AND j.is_active
        WHERE cu.course_id = $1
        """,
        course_id,
    )
    before = {
        r["key"]: r["title"]
        for r in await conn.fetch(
            "SELECT key, title FROM topics WHERE course_id = $1 AND archived_at IS NULL", course_id
        )
    }
    # Retire everything, then revive what the source still has: the partial unique indexes
    # only cover live rows, so reordering never collides mid-import.
    await conn.execute(
        "UPDATE topics SET archived_at = now() WHERE course_id = $1 AND archived_at IS NULL",
        course_id,
    )
    await conn.execute("UPDATE journeys SET is_active = false WHERE course_id = $1", course_id)

    topic_ids: dict[str, uuid.UUID] = {}
    for module in src.modules:
        for t in module.topics:
            r = await conn.fetchrow(
                """
                INSERT INTO topics (course_id, key, module_no, module_title, topic_number, title,
                                    content_type, text_content, difficulty)
                VALUES ($1, $2, $3, $4, $5, $6, 'text', $7, $8::difficulty)
                ON CONFLICT (course_id, key) DO UPDATE SET
                    module_no = EXCLUDED.module_no, module_title = EXCLUDED.module_title,
                    topic_number = EXCLUDED.topic_number, title = EXCLUDED.title,
                    content_type = EXCLUDED.content_type, text_content = EXCLUDED.text_content,
                    difficulty = EXCLUDED.difficulty, archived_at = NULL
                RETURNING id
                """,
                course_id, t.key, module.number, module.title, t.number, t.title, t.body,
                t.difficulty,
            )
            topic_ids[t.key] = r["id"]
            if t.key in before:
                report.topics_updated += 1
            else:
                report.topics_added.append(t.title)
            await conn.execute(
                """
                INSERT INTO journeys (course_id, topic_id, priority, is_active)
                VALUES ($1, $2, $3, true)
                ON CONFLICT (topic_id) DO UPDATE SET priority = EXCLUDED.priority, is_active = true
                """,
                course_id, r["id"], t.priority,
            )
            await conn.execute(
                """
                INSERT INTO topic_content_assets (course_id, topic_id, content_key, persona_key,
                                                  payload)
                VALUES ($1, $2, 'body', NULL, $3)
                ON CONFLICT (topic_id, content_key, persona_key)
                DO UPDATE SET payload = EXCLUDED.payload
                """,
                course_id, r["id"], {"text": t.body},
            )
    report.topics_archived = [title for key, title in before.items() if key not in topic_ids]

    await conn.execute(
        """
        UPDATE course_users cu SET last_priority = j.priority
        FROM unnest($1::uuid[], $2::uuid[]) AS p(cu_id, topic_id)
        JOIN journeys j ON j.topic_id = p.topic_id AND j.is_active
        WHERE cu.id = p.cu_id AND cu.last_priority IS DISTINCT FROM j.priority
        """,
        [r["id"] for r in positions], [r["topic_id"] for r in positions],
    )
    # A learner who had reached the end (finished, or no longer scheduled) has more to do now:
    # the new journeys come at their next delivery hour.
    await conn.execute(
        f"""
        WITH back AS (
            UPDATE course_users cu SET completed_at = NULL
            FROM users u
            WHERE cu.course_id = $1 AND u.id = cu.user_id
              AND (cu.completed_at IS NOT NULL
                   OR NOT EXISTS (SELECT 1 FROM course_user_schedule s
                                  WHERE s.course_user_id = cu.id))
              AND cu.left_at IS NULL AND cu.lapsed_at IS NULL
              AND EXISTS (SELECT 1 FROM journeys j WHERE j.course_id = cu.course_id
                          AND j.is_active
                          AND j.priority > coalesce(cu.last_priority, -2147483648))
            RETURNING {back_columns(_NOW)}
        ), sched AS ({schedule_back_sql("back")}
        )
        UPDATE enrollments e SET status = 'active', completed_at = NULL
        FROM back WHERE e.user_id = back.user_id AND e.course_id = $1
          AND e.status = 'completed'
        """,
        course_id, now,
    )

    await _import_languages(conn, course_id, src)
    await conn.executemany(
        """
        INSERT INTO course_translations (course_id, language, title, description)
        VALUES ($1, $2, $3, $4)
        """,
        [(course_id, lang, tr.title, tr.description) for lang, tr in src.translations.items()],
    )
    await _import_quizzes(conn, course_id, src, report)
    await _import_cold_calls(conn, course_id, src, topic_ids, report)
    await _import_suggestions(conn, course_id, src, topic_ids, report)
    await _import_variants(conn, course_id, src, topic_ids, report)
    await _import_topic_translations(conn, course_id, src, topic_ids, report)
    return report


async def _import_languages(conn: asyncpg.Connection, course_id: uuid.UUID,
                            src: CourseSource) -> None:
    """The declared languages, default first. A language no longer declared goes, and its
    translations with it (foreign keys); every other translation is rewritten by this import,
    so a re-import never mixes old and new texts."""
    await conn.execute(
        "DELETE FROM course_languages WHERE course_id = $1 AND NOT (language = ANY($2::text[]))",
        course_id, src.languages,
    )
    await conn.executemany(
        """
        INSERT INTO course_languages (course_id, language, position) VALUES ($1, $2, $3)
        ON CONFLICT (course_id, language) DO UPDATE SET position = EXCLUDED.position
        """,
        [(course_id, lang, i) for i, lang in enumerate(src.languages)],
    )
    for table in ("course_translations", "topic_translations", "quiz_question_translations",
                  "quiz_option_translations", "cold_call_prompt_translations",
                  "suggestion_translations"):
        await conn.execute(f"DELETE FROM {table} WHERE course_id = $1", course_id)


async def _import_topic_translations(
    conn: asyncpg.Connection, course_id: uuid.UUID, src: CourseSource,
    topic_ids: dict[str, uuid.UUID], report: ImportReport,
) -> None:
    rows = []
    for module in src.modules:
        for lang, tr in module.translations.items():
            if tr.topics is None or tr.title is None:
                continue
            for (title, body), topic in zip(tr.topics, module.topics, strict=True):
                rows.append((topic_ids[topic.key], course_id, lang, title, tr.title, body))
            report.translations[lang] = report.translations.get(lang, 0) + len(tr.topics)
    await conn.executemany(
        """
        INSERT INTO topic_translations (topic_id, course_id, language, title, module_title, body)
        VALUES ($1, $2, $3, $4, $5, $6)
        """,
        rows,
    )


async def _import_quizzes(
    conn: asyncpg.Connection, course_id: uuid.UUID, src: CourseSource, report: ImportReport
) -> None:
    keep: list[uuid.UUID] = []
    for module in src.modules:
        for order, q in enumerate(module.quiz):
            qid = await conn.fetchval(
                """
                INSERT INTO quiz_questions (course_id, module_no, topic_pair_index, prompt,
                                            explanation, order_index)
                VALUES ($1, $2, 0, $3, $4, $5)
                ON CONFLICT (course_id, module_no, topic_pair_index, order_index)
                DO UPDATE SET prompt = EXCLUDED.prompt, explanation = EXCLUDED.explanation
                RETURNING question_id
                """,
                course_id, module.number, q.prompt, q.explanation, order,
            )
            keep.append(qid)
            await conn.executemany(
                """
                INSERT INTO quiz_options (question_id, option_text, is_correct, order_index)
                VALUES ($1, $2, $3, $4)
                ON CONFLICT (question_id, order_index)
                DO UPDATE SET option_text = EXCLUDED.option_text, is_correct = EXCLUDED.is_correct
                """,
                [(qid, text, correct, i) for i, (text, correct) in enumerate(q.options)],
            )
            await conn.execute(
                "DELETE FROM quiz_options WHERE question_id = $1 AND order_index >= $2",
                qid, len(q.options),
            )
            report.quiz_questions += 1
            for lang, tr in module.translations.items():
                if tr.quiz is None:
                    continue
                t = tr.quiz[order]
                await conn.execute(
                    """
                    INSERT INTO quiz_question_translations (question_id, course_id, language,
                                                            prompt, explanation)
                    VALUES ($1, $2, $3, $4, $5)
                    """,
                    qid, course_id, lang, t.prompt, t.explanation,
                )
                await conn.execute(
                    """
                    INSERT INTO quiz_option_translations (option_id, course_id, language,
                                                          option_text)
                    SELECT o.option_id, $2, $3, x.text
                    FROM unnest($4::text[]) WITH ORDINALITY AS x(text, n)
                    JOIN quiz_options o ON o.question_id = $1 AND o.order_index = x.n - 1
                    """,
                    qid, course_id, lang, [text for text, _ in t.options],
                )
    await conn.execute(
        "DELETE FROM quiz_questions WHERE course_id = $1 AND NOT (question_id = ANY($2::uuid[]))",
        course_id, keep,
    )


async def _import_cold_calls(
    conn: asyncpg.Connection, course_id: uuid.UUID, src: CourseSource,
    topic_ids: dict[str, uuid.UUID], report: ImportReport,
) -> None:
    keep: list[uuid.UUID] = []
    for module in src.modules:
        order: dict[str, int] = {}
        for i, (key, prompt) in enumerate(module.cold_calls):
            order[key] = order.get(key, 0) + 1
            pid = await conn.fetchval(
                """
                INSERT INTO cold_call_prompts (course_id, topic_id, display_order, prompt)
                VALUES ($1, $2, $3, $4)
                ON CONFLICT (topic_id, display_order) DO UPDATE SET prompt = EXCLUDED.prompt
                RETURNING id
                """,
                course_id, topic_ids[key], order[key], prompt,
            )
            keep.append(pid)
            report.cold_calls += 1
            await conn.executemany(
                """
                INSERT INTO cold_call_prompt_translations (prompt_id, course_id, language, prompt)
                VALUES ($1, $2, $3, $4)
                """,
                [(pid, course_id, lang, tr.cold_calls[i])
                 for lang, tr in module.translations.items() if tr.cold_calls is not None],
            )
    await conn.execute(
        "DELETE FROM cold_call_prompts WHERE course_id = $1 AND NOT (id = ANY($2::uuid[]))",
        course_id, keep,
    )


async def _import_suggestions(
    conn: asyncpg.Connection, course_id: uuid.UUID, src: CourseSource,
    topic_ids: dict[str, uuid.UUID], report: ImportReport,
) -> None:
    # Suggestions carry no learner state, so replacing them wholesale is the simple upsert.
    await conn.execute("DELETE FROM topic_prompt_suggestions WHERE course_id = $1", course_id)
    for module in src.modules:
        for order, s in enumerate(module.suggestions):
            parent = await conn.fetchval(
                """
                INSERT INTO topic_prompt_suggestions (course_id, topic_id, prompt_text, order_index)
                VALUES ($1, $2, $3, $4) RETURNING id
                """,
                course_id, topic_ids[s.topic_key], s.text, order,
            )
            children = [
                await conn.fetchval(
                    """
                    INSERT INTO topic_prompt_suggestions (course_id, topic_id,
                        parent_suggestion_id, prompt_text, order_index)
                    VALUES ($1, $2, $3, $4, $5) RETURNING id
                    """,
                    course_id, topic_ids[s.topic_key], parent, f, i,
                )
                for i, f in enumerate(s.follow_ups)
            ]
            rows = []
            for lang, tr in module.translations.items():
                if tr.suggestions is None:
                    continue
                text, follow = tr.suggestions[order]
                rows += [(parent, course_id, lang, text),
                         *((c, course_id, lang, f) for c, f in zip(children, follow,
                                                                   strict=True))]
            await conn.executemany(
                """
                INSERT INTO suggestion_translations (suggestion_id, course_id, language,
                                                     prompt_text)
                VALUES ($1, $2, $3, $4)
                """,
                rows,
            )
            report.suggestions += 1 + len(s.follow_ups)


async def _import_variants(
    conn: asyncpg.Connection, course_id: uuid.UUID, src: CourseSource,
    topic_ids: dict[str, uuid.UUID], report: ImportReport,
) -> None:
    keep: list[uuid.UUID] = []
    for module in src.modules:
        for key, persona, body in module.variants:
            aid = await conn.fetchval(
                """
                INSERT INTO topic_content_assets (course_id, topic_id, content_key, persona_key,
                                                  payload)
                VALUES ($1, $2, 'body', $3::persona, $4)
                ON CONFLICT (topic_id, content_key, persona_key)
                DO UPDATE SET payload = EXCLUDED.payload
                RETURNING id
                """,
                course_id, topic_ids[key], persona, {"text": body},
            )
            keep.append(aid)
            report.variants += 1
    await conn.execute(
        """
        DELETE FROM topic_content_assets
        WHERE course_id = $1 AND persona_key IS NOT NULL AND NOT (id = ANY($2::uuid[]))
        """,
        course_id, keep,
    )


@dataclass(frozen=True)
class CourseRow:
    id: uuid.UUID
    slug: str
    title: str
    description: str
    prompt_quota: int
    journeys: int


# Title and description in the reader's language `$1` (migration 0260's functions: the
# course's translation, else its default language's; a NULL language reads the default).
_COURSE_ROW = """
    SELECT c.id, c.slug, course_title(c.id, $1::text) AS title,
           course_description(c.id, $1::text) AS description, c.prompt_quota,
           (SELECT count(*) FROM journeys j WHERE j.course_id = c.id AND j.is_active)
               AS journeys
    FROM courses c
"""


async def list_courses(conn: asyncpg.Connection, language: str | None = None
                       ) -> list[CourseRow]:
    """The published courses, titled (and sorted) in `language` where they have it."""
    rows = await conn.fetch(f"{_COURSE_ROW} WHERE c.is_published ORDER BY 3, c.slug", language)
    return [CourseRow(**dict(r)) for r in rows]


async def get_by_slug(conn: asyncpg.Connection, slug: str, language: str | None = None
                      ) -> CourseRow | None:
    """Any course, published or not (admins and tutors manage drafts too)."""
    r = await conn.fetchrow(f"{_COURSE_ROW} WHERE c.slug = $2", language, slug)
    return CourseRow(**dict(r)) if r else None


async def get_published(conn: asyncpg.Connection, *, slug: str | None = None,
                        course_id: uuid.UUID | None = None, language: str | None = None,
                        ) -> CourseRow | None:
    """A course learners may join or act in: by slug or id, and only while published."""
    r = await conn.fetchrow(
        f"{_COURSE_ROW} WHERE c.is_published AND (c.slug = $2 OR c.id = $3)",
        language, slug, course_id)
    return CourseRow(**dict(r)) if r else None


async def set_prompt_quota(conn: asyncpg.Connection, course_id: uuid.UUID, quota: int) -> int:
    """Set the typed-question quota per module; returns the previous value."""
    return await conn.fetchval(
        """
        UPDATE courses c SET prompt_quota = $2 FROM (SELECT prompt_quota FROM courses
                                                     WHERE id = $1 FOR UPDATE) old
        WHERE c.id = $1 RETURNING old.prompt_quota
        """,
        course_id, quota,
    )


async def pass_mark(conn: asyncpg.Connection, course_id: uuid.UUID) -> int:
    return await conn.fetchval("SELECT pass_mark FROM courses WHERE id = $1", course_id)


async def title_of(conn: asyncpg.Connection, course_id: uuid.UUID,
                   language: str | None = None) -> str:
    return await conn.fetchval("SELECT course_title($1, $2::text)", course_id, language) or ""


async def has_module_after(conn: asyncpg.Connection, course_id: uuid.UUID, module_no: int
                           ) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM topics WHERE course_id = $1 AND module_no > $2 "
        "AND archived_at IS NULL)", course_id, module_no))
