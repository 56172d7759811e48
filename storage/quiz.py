"""Module quizzes and module completion (seed 001's quiz_* and module_progress tables).

A failed quiz sets `module_progress.cooldown_until`; a retry before then is refused. Answers
are recorded with a conditional UPDATE, so a double tap or a replayed callback can't answer a
question twice or finish an attempt twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from storage import activity, gamification
from storage.completion import refresh_module
from storage.gamification import Badge
from storage.pg import require_tx


@dataclass(frozen=True)
class Question:
    id: uuid.UUID
    prompt: str
    explanation: str
    options: list[tuple[uuid.UUID, str, bool]]


@dataclass(frozen=True)
class Attempt:
    id: uuid.UUID
    course_id: uuid.UUID
    course_title: str
    module_no: int
    module_title: str
    question_ids: list[str]
    answers: dict[str, str]
    started_at: datetime

    @property
    def index(self) -> int:
        return len(self.answers)

    @property
    def total(self) -> int:
        return len(self.question_ids)


@dataclass(frozen=True)
class StartResult:
    attempt: Attempt | None
    cooldown_until: datetime | None = None
    no_quiz: bool = False
    already_passed: bool = False


@dataclass(frozen=True)
class AnswerResult:
    recorded: bool
    correct: bool
    explanation: str
    correct_text: str
    finished: bool
    score: int | None = None
    passed: bool | None = None
    pass_mark: int = 0
    cooldown_until: datetime | None = None
    xp: int = 0
    badges: tuple[Badge, ...] = ()
    module_completed: bool = False


# A question in language `{lang}` where the course has it, item by item (an option or an
# explanation not translated shows the original's).
_QUESTION_SELECT = """
    SELECT q.question_id, coalesce(qt.prompt, q.prompt) AS prompt,
           coalesce(nullif(qt.explanation, ''), q.explanation) AS explanation,
           array_agg(o.option_id ORDER BY o.order_index) AS ids,
           array_agg(coalesce(ot.option_text, o.option_text) ORDER BY o.order_index) AS texts,
           array_agg(o.is_correct ORDER BY o.order_index) AS correct
    FROM quiz_questions q JOIN quiz_options o ON o.question_id = q.question_id
    LEFT JOIN quiz_question_translations qt ON qt.question_id = q.question_id
         AND qt.language = {lang}
    LEFT JOIN quiz_option_translations ot ON ot.option_id = o.option_id AND ot.language = {lang}
"""
_QUESTION_GROUP = "GROUP BY q.question_id, qt.prompt, qt.explanation"


def _question(r: asyncpg.Record) -> Question:
    return Question(r["question_id"], r["prompt"], r["explanation"],
                    list(zip(r["ids"], r["texts"], r["correct"], strict=True)))


async def questions(conn: asyncpg.Connection, course_id: uuid.UUID, module_no: int,
                    lang: str = "en") -> list[Question]:
    rows = await conn.fetch(
        f"{_QUESTION_SELECT.format(lang='$3')} WHERE q.course_id = $1 AND q.module_no = $2 "
        f"{_QUESTION_GROUP} ORDER BY min(q.order_index)",
        course_id, module_no, lang,
    )
    return [_question(r) for r in rows]


async def question(conn: asyncpg.Connection, question_id: uuid.UUID, lang: str = "en"
                   ) -> Question | None:
    r = await conn.fetchrow(
        f"{_QUESTION_SELECT.format(lang='$2')} WHERE q.question_id = $1 {_QUESTION_GROUP}",
        question_id, lang,
    )
    return _question(r) if r else None


_ATTEMPT_SELECT = """
    SELECT a.attempt_id AS id, a.course_id,
           course_title(c.id, (SELECT locale FROM users WHERE id = a.user_id)) AS course_title,
           a.module_no,
           coalesce((SELECT max(coalesce(tt.module_title, t.module_title)) FROM topics t
                     LEFT JOIN topic_translations tt ON tt.topic_id = t.id
                          AND tt.language = (SELECT locale FROM users WHERE id = a.user_id)
                     WHERE t.course_id = a.course_id AND t.module_no = a.module_no),
                    '') AS module_title,
           ARRAY(SELECT jsonb_array_elements_text(a.question_set)) AS question_ids,
           a.answers, a.started_at
    FROM quiz_attempts a JOIN courses c ON c.id = a.course_id
"""


async def attempt(conn: asyncpg.Connection, attempt_id: uuid.UUID, user_id: uuid.UUID
                  ) -> Attempt | None:
    r = await conn.fetchrow(
        f"{_ATTEMPT_SELECT} WHERE a.attempt_id = $1 AND a.user_id = $2 "
        "AND a.status = 'in_progress'",
        attempt_id, user_id,
    )
    return Attempt(**dict(r)) if r else None


async def quiz_module(conn: asyncpg.Connection, user_id: uuid.UUID, course_id: uuid.UUID
                      ) -> int | None:
    """The module whose quiz the learner should take: the first with a quiz not yet passed."""
    return await conn.fetchval(
        """
        SELECT q.module_no FROM quiz_questions q
        LEFT JOIN module_progress mp ON mp.user_id = $1 AND mp.course_id = q.course_id
                                    AND mp.module_no = q.module_no
        WHERE q.course_id = $2 AND NOT coalesce(mp.quiz_passed, false)
        ORDER BY q.module_no LIMIT 1
        """,
        user_id, course_id,
    )


async def start(conn: asyncpg.Connection, user_id: uuid.UUID, course_id: uuid.UUID,
                module_no: int, now: datetime) -> StartResult:
    """Open the module's quiz (or find the attempt already open). Call inside a
    transaction: its statements commit or fail together."""
    require_tx(conn)
    mp = await conn.fetchrow(
        """
        INSERT INTO module_progress (user_id, course_id, module_no, unlocked_at)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (user_id, course_id, module_no) DO UPDATE
            SET unlocked_at = coalesce(module_progress.unlocked_at, EXCLUDED.unlocked_at)
        RETURNING quiz_passed, cooldown_until
        """,
        user_id, course_id, module_no, now,
    )
    if mp["quiz_passed"]:
        return StartResult(None, already_passed=True)
    if mp["cooldown_until"] and mp["cooldown_until"] > now:
        return StartResult(None, cooldown_until=mp["cooldown_until"])
    qs = await questions(conn, course_id, module_no)
    if not qs:
        return StartResult(None, no_quiz=True)
    row = await conn.fetchrow(
        """
        INSERT INTO quiz_attempts (user_id, course_id, module_no, question_set, started_at)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (user_id, course_id, module_no) WHERE status = 'in_progress'
        DO UPDATE SET updated_at = now()
        RETURNING attempt_id
        """,
        user_id, course_id, module_no, [str(q.id) for q in qs], now,
    )
    found = await attempt(conn, row["attempt_id"], user_id)
    return StartResult(found)


async def answer(conn: asyncpg.Connection, attempt_id: uuid.UUID, user_id: uuid.UUID,
                 question_index: int, option_index: int, now: datetime, lang: str = "en"
                 ) -> AnswerResult | None:
    """Record one answer; on the last one, score the attempt and settle the module. The
    feedback (explanation, correct answer) comes in `lang` where the course has it.
    Call inside a transaction: its statements commit or fail together."""
    require_tx(conn)
    att = await conn.fetchrow(
        """
        SELECT a.*, c.pass_mark, c.quiz_cooldown_minutes FROM quiz_attempts a
        JOIN courses c ON c.id = a.course_id
        WHERE a.attempt_id = $1 AND a.user_id = $2 FOR UPDATE OF a
        """,
        attempt_id, user_id,
    )
    if att is None or att["status"] != "in_progress":
        return None
    qids: list[str] = att["question_set"]
    if not 0 <= question_index < len(qids):
        return None
    qid = qids[question_index]
    q = await question(conn, uuid.UUID(qid), lang)
    if q is None or not 0 <= option_index < len(q.options):
        return None
    chosen = q.options[option_index]
    correct_text = next(text for _, text, ok in q.options if ok)
    answers: dict[str, str] = att["answers"]
    if qid in answers or question_index != len(answers):
        # a replayed or out-of-order tap: nothing to record
        return AnswerResult(False, False, q.explanation, correct_text, False)
    answers = {**answers, qid: str(chosen[0])}
    await conn.execute(
        "UPDATE quiz_attempts SET answers = $2 WHERE attempt_id = $1", attempt_id, answers
    )
    if len(answers) < len(qids):
        return AnswerResult(True, chosen[2], q.explanation, correct_text, False)
    return await _finish(conn, att, answers, q, chosen, correct_text, now)


async def _finish(conn: asyncpg.Connection, att: asyncpg.Record, answers: dict[str, str],
                  q: Question, chosen: tuple, correct_text: str, now: datetime) -> AnswerResult:
    right = await conn.fetchval(
        "SELECT count(*) FROM quiz_options WHERE option_id = ANY($1::uuid[]) AND is_correct",
        [uuid.UUID(v) for v in answers.values()],
    )
    score = round(100 * right / len(answers))
    passed = score >= att["pass_mark"]
    user_id, course_id, module_no = att["user_id"], att["course_id"], att["module_no"]
    await conn.execute(
        """
        UPDATE quiz_attempts SET score = $2, status = $3::quiz_status, completed_at = $4
        WHERE attempt_id = $1
        """,
        att["attempt_id"], score, "passed" if passed else "failed", now,
    )
    cooldown = None
    xp = 0
    badges: list[Badge] = []
    completed = False
    if passed:
        await conn.execute(
            """
            UPDATE module_progress SET quiz_passed = true, passed_at = $4, cooldown_until = NULL
            WHERE user_id = $1 AND course_id = $2 AND module_no = $3
            """,
            user_id, course_id, module_no, now,
        )
        xp = await gamification.award_xp(
            conn, user_id, course_id, f"quiz:{course_id}:{module_no}",
            await gamification.quiz_xp(conn, course_id, module_no))
        scope = f"course:{course_id}:module:{module_no}"
        earlier = await conn.fetchval(
            "SELECT count(*) FROM quiz_attempts WHERE user_id = $1 AND course_id = $2 "
            "AND module_no = $3 AND status = 'failed'",
            user_id, course_id, module_no,
        )
        if earlier == 0:
            badges += await gamification.scoped_badges(conn, user_id, "first_try_pass", scope)
        seconds = (now - att["started_at"]).total_seconds()
        for code, criteria in await gamification.rule_values(conn, "fastest_quiz"):
            if seconds <= float(criteria.get("max_seconds", 0)):
                badge = await gamification.award_badge(conn, user_id, code, scope,
                                                       {"seconds": int(seconds)})
                if badge:
                    badges.append(badge)
        completed, more = await refresh_module(conn, user_id, course_id, module_no, now)
        badges += more
    else:
        cooldown = now + timedelta(minutes=att["quiz_cooldown_minutes"])
        await conn.execute(
            """
            UPDATE module_progress SET cooldown_until = $4
            WHERE user_id = $1 AND course_id = $2 AND module_no = $3
            """,
            user_id, course_id, module_no, cooldown,
        )
    # The quiz score is the module's topics' score (seed 004: NULL until a quiz is taken).
    await conn.execute(
        """
        UPDATE topic_progress tp SET score = $4
        FROM topics t WHERE t.id = tp.topic_id AND tp.user_id = $1 AND t.course_id = $2
          AND t.module_no = $3 AND (tp.score IS NULL OR tp.score < $4)
        """,
        user_id, course_id, module_no, score,
    )
    await activity.log(conn, user_id=user_id, course_id=course_id,
                       event_type="quiz.passed" if passed else "quiz.failed",
                       payload={"module": module_no, "score": score}, at=now)
    return AnswerResult(True, chosen[2], q.explanation, correct_text, True, score, passed,
                        att["pass_mark"], cooldown, xp, tuple(badges), completed)


async def attempt_scope(conn: asyncpg.Connection, attempt_id: uuid.UUID
                        ) -> tuple[uuid.UUID, int]:
    """(course_id, module_no) of an attempt."""
    row = await conn.fetchrow(
        "SELECT course_id, module_no FROM quiz_attempts WHERE attempt_id = $1", attempt_id)
    return row["course_id"], row["module_no"]
