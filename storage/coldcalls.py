"""Cold calls (seed 001): prompts posted into a cohort's group, threaded replies, stars.

Threading: a reply to the prompt post is top-level (parent_id and root_id NULL); a reply to a
recorded reply has parent_id = that reply and root_id = the top-level reply it hangs under.

Arrival order doesn't matter: a reply whose parent isn't stored yet waits in
`cold_call_waiting_replies` and is recorded, threaded, in the transaction that stores its parent
(`link_waiting`). "Is the parent there?" and "is anything waiting for me?" are serialized per
message by a transaction-scoped advisory lock (`lock_message`), so two processes handling a
parent and its reply at the same instant can't both miss each other.

Storage functions take a connection and never choose the transaction: the caller opens it
(`async with db.tx() as conn:`, storage/uow.py)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from storage.cohorts import Cohort
from storage.pg import require_tx

_NUMBERED = re.compile(r"^(\d{1,3})\.(\d{1,3})$")


@dataclass(frozen=True)
class TopicRef:
    id: uuid.UUID
    key: str
    module_no: int
    topic_number: int
    title: str
    prompts: int


async def resolve_topic(
    conn: asyncpg.Connection, course_id: uuid.UUID, ref: str
) -> list[TopicRef]:
    """Live topics matching `ref`: "2.1" (module.topic), a topic key, or part of a title.
    One element means found; several mean ambiguous; none means unknown."""
    base = """
        SELECT t.id, t.key, t.module_no, t.topic_number, t.title,
               (SELECT count(*) FROM cold_call_prompts p WHERE p.topic_id = t.id) AS prompts
        FROM topics t WHERE t.course_id = $1 AND t.archived_at IS NULL
    """
    numbered = _NUMBERED.match(ref.strip())
    if numbered:
        rows = await conn.fetch(base + " AND t.module_no = $2 AND t.topic_number = $3",
                                course_id, int(numbered[1]), int(numbered[2]))
    else:
        rows = await conn.fetch(base + " AND t.key = lower($2)", course_id, ref.strip())
        if not rows:
            rows = await conn.fetch(
                base + " AND t.title ILIKE '%' || $2 || '%' ORDER BY t.module_no, t.topic_number",
                course_id, _like_escape(ref.strip()),
            )
    return [TopicRef(**dict(r)) for r in rows]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# The language a cohort's group reads: the one most of its joined members chose (users.locale),
# ties going to the course's default language; the poster's when nobody has joined yet. A
# course without that language shows its default texts (no translation rows match).
GROUP_LANGUAGE_SQL = """
    SELECT coalesce(
        (SELECT u.locale FROM cohort_members m JOIN users u ON u.id = m.user_id
         JOIN cohorts co ON co.id = m.cohort_id
         WHERE m.cohort_id = {cohort} AND m.joined_at IS NOT NULL
         GROUP BY u.locale, co.course_id
         ORDER BY count(*) DESC,
                  EXISTS (SELECT 1 FROM course_languages cl WHERE cl.course_id = co.course_id
                          AND cl.language = u.locale AND cl.position = 0) DESC,
                  u.locale
         LIMIT 1),
        (SELECT locale FROM users WHERE id = {poster})) AS language
"""


@dataclass(frozen=True)
class PostDraft:
    post_id: uuid.UUID
    prompt_id: uuid.UUID
    prompt: str
    display_order: int
    prompts_total: int
    topic_id: uuid.UUID
    topic_title: str


async def start_post(
    conn: asyncpg.Connection, cohort: Cohort, topic_id: uuid.UUID, posted_by: uuid.UUID
) -> PostDraft | None:
    """Choose the topic's next prompt for this cohort and record the post (message id unknown
    until Telegram answers). "Next" is by display_order among the prompts posted least often
    here, so a topic whose prompts were all used starts over from the first.

    The cohort row is locked (until the caller's transaction ends) so two tutors calling at
    once get different prompts."""
    require_tx(conn)
    await conn.execute("SELECT 1 FROM cohorts WHERE id = $1 FOR UPDATE", cohort.id)
    row = await conn.fetchrow(
        f"""
        WITH lang AS ({GROUP_LANGUAGE_SQL.format(cohort="$2", poster="$3")})
        SELECT p.id, coalesce(pt.prompt, p.prompt) AS prompt, p.display_order,
               coalesce(tt.title, t.title) AS topic_title, count(*) OVER () AS total
        FROM cold_call_prompts p JOIN topics t ON t.id = p.topic_id
        LEFT JOIN cold_call_prompt_translations pt ON pt.prompt_id = p.id
             AND pt.language = (SELECT language FROM lang)
        LEFT JOIN topic_translations tt ON tt.topic_id = t.id
             AND tt.language = (SELECT language FROM lang)
        WHERE p.topic_id = $1
        ORDER BY (SELECT count(*) FROM cold_call_posts cp
                  WHERE cp.prompt_id = p.id AND cp.cohort_id = $2), p.display_order
        LIMIT 1
        """,
        topic_id, cohort.id, posted_by,
    )
    if row is None:
        return None
    post_id = await conn.fetchval(
        """
        INSERT INTO cold_call_posts (prompt_id, cohort_id, posted_by, telegram_chat_id,
                                     telegram_thread_id)
        VALUES ($1, $2, $3, $4, $5) RETURNING id
        """,
        row["id"], cohort.id, posted_by, cohort.telegram_chat_id, cohort.telegram_thread_id,
    )
    return PostDraft(post_id, row["id"], row["prompt"], row["display_order"], row["total"],
                     topic_id, row["topic_title"])


async def confirm_post(conn: asyncpg.Connection, post_id: uuid.UUID, message_id: int) -> None:
    await conn.execute(
        "UPDATE cold_call_posts SET telegram_message_id = $2 WHERE id = $1", post_id, message_id
    )


async def discard_post(conn: asyncpg.Connection, post_id: uuid.UUID) -> None:
    """The post never reached the group: forget it so the prompt stays next."""
    await conn.execute("DELETE FROM cold_call_posts WHERE id = $1", post_id)


@dataclass(frozen=True)
class ReplyTarget:
    kind: str  # "post" | "message"
    post_id: uuid.UUID | None
    prompt_id: uuid.UUID
    cohort_id: uuid.UUID
    message_id: uuid.UUID | None  # the replied-to cold_call_messages row
    root_id: uuid.UUID | None  # its top-level message
    author_id: uuid.UUID | None


async def find_target(
    conn: asyncpg.Connection, chat_id: int, telegram_message_id: int
) -> ReplyTarget | None:
    """What a group message replies to: a prompt post, a recorded reply, or nothing of ours."""
    row = await conn.fetchrow(
        """
        SELECT 'post' AS kind, p.id AS post_id, p.prompt_id, p.cohort_id,
               NULL::uuid AS message_id, NULL::uuid AS root_id, p.posted_by AS author_id
        FROM cold_call_posts p
        WHERE p.telegram_chat_id = $1 AND p.telegram_message_id = $2
        UNION ALL
        SELECT 'message', m.post_id, m.prompt_id, m.cohort_id, m.id, coalesce(m.root_id, m.id),
               m.user_id
        FROM cold_call_messages m
        WHERE m.telegram_chat_id = $1 AND m.telegram_message_id = $2
        LIMIT 1
        """,
        chat_id, telegram_message_id,
    )
    return ReplyTarget(**dict(row)) if row else None


@dataclass(frozen=True)
class Recorded:
    id: uuid.UUID
    created: bool
    topic_id: uuid.UUID
    course_id: uuid.UUID


async def record_reply(
    conn: asyncpg.Connection, target: ReplyTarget, *, user_id: uuid.UUID, is_tutor: bool,
    body: str, chat_id: int, telegram_message_id: int,
) -> Recorded:
    """Store a reply once (a redelivered update finds the existing row)."""
    parent = target.message_id if target.kind == "message" else None
    root = target.root_id if target.kind == "message" else None
    row = await conn.fetchrow(
        """
        WITH ins AS (
            INSERT INTO cold_call_messages (prompt_id, cohort_id, post_id, user_id, parent_id,
                                            root_id, is_tutor_reply, body, telegram_chat_id,
                                            telegram_message_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (telegram_chat_id, telegram_message_id) DO NOTHING
            RETURNING id
        )
        SELECT coalesce((SELECT id FROM ins),
                        (SELECT id FROM cold_call_messages
                         WHERE telegram_chat_id = $9 AND telegram_message_id = $10)) AS id,
               EXISTS (SELECT 1 FROM ins) AS created,
               p.topic_id, p.course_id
        FROM cold_call_prompts p WHERE p.id = $1
        """,
        target.prompt_id, target.cohort_id, target.post_id, user_id, parent, root, is_tutor,
        body, chat_id, telegram_message_id,
    )
    return Recorded(**dict(row))


async def lock_message(conn: asyncpg.Connection, chat_id: int, telegram_message_id: int) -> None:
    """Hold the group message's slot until the caller's transaction ends: taken before looking
    for a reply's parent and before looking for the replies waiting on a message, so one of
    the two always sees the other's commit. (A reply's parent has a smaller message id, so
    locks are taken in increasing order along a thread and can't deadlock.)"""
    require_tx(conn)
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended("
        "'cold_call_message:' || $1::bigint || ':' || $2::bigint, 0))",
        chat_id, telegram_message_id,
    )


async def wait_for_parent(
    conn: asyncpg.Connection, *, cohort_id: uuid.UUID, user_id: uuid.UUID, is_tutor: bool,
    body: str, chat_id: int, telegram_message_id: int, reply_to_message_id: int,
    at: datetime,
) -> bool:
    """Keep a member's reply whose parent isn't stored yet (call with the parent's slot held,
    see `lock_message`). True if it is waiting now for the first time."""
    require_tx(conn)
    return bool(await conn.fetchval(
        """
        INSERT INTO cold_call_waiting_replies (telegram_chat_id, telegram_message_id,
                                               reply_to_message_id, cohort_id, user_id,
                                               is_tutor_reply, body, replied_at)
        SELECT $1, $2, $3, $4, $5, $6, $7, $8
        WHERE NOT EXISTS (SELECT 1 FROM cold_call_messages
                          WHERE telegram_chat_id = $1 AND telegram_message_id = $2)
        ON CONFLICT (telegram_chat_id, telegram_message_id) DO NOTHING
        RETURNING true
        """,
        chat_id, telegram_message_id, reply_to_message_id, cohort_id, user_id, is_tutor, body,
        at,
    ))


@dataclass(frozen=True)
class Linked:
    """A waiting reply that was just recorded under its parent."""
    recorded: Recorded
    user_id: uuid.UUID
    is_tutor: bool
    threaded: bool
    replied_at: datetime


async def link_waiting(
    conn: asyncpg.Connection, chat_id: int, telegram_message_id: int
) -> list[Linked]:
    """Record the replies waiting on a message that is now stored (a reply or a confirmed
    post), and those waiting on them, down the thread. Each waiting row is deleted as it is
    recorded, in the caller's transaction, so a reply's effects happen once: a redelivered
    update or a second look finds nothing waiting. A reply whose parent turned out to belong
    to another cohort is dropped."""
    require_tx(conn)
    linked: list[Linked] = []
    queue = [telegram_message_id]
    while queue:
        parent = queue.pop(0)
        await lock_message(conn, chat_id, parent)
        target = await find_target(conn, chat_id, parent)
        if target is None:
            continue
        waiting = await conn.fetch(
            """
            DELETE FROM cold_call_waiting_replies
            WHERE telegram_chat_id = $1 AND reply_to_message_id = $2
            RETURNING telegram_message_id, cohort_id, user_id, is_tutor_reply, body, replied_at
            """,
            chat_id, parent,
        )
        for row in sorted(waiting, key=lambda r: r["telegram_message_id"]):
            if row["cohort_id"] != target.cohort_id:
                continue
            recorded = await record_reply(
                conn, target, user_id=row["user_id"], is_tutor=row["is_tutor_reply"],
                body=row["body"], chat_id=chat_id,
                telegram_message_id=row["telegram_message_id"],
            )
            if recorded.created:
                linked.append(Linked(recorded, row["user_id"], row["is_tutor_reply"],
                                     target.kind == "message", row["replied_at"]))
            queue.append(row["telegram_message_id"])
    return linked


# A reply overtakes its parent by moments (two updates of one polling batch, two webhook
# processes): only a reply to a message sent this shortly before it waits for it, and what
# still waits after an hour had a parent that was never ours to record (someone's chatter).
WAIT_FOR_PARENT_SECONDS = 600
WAITING_KEPT_HOURS = 1


async def forget_waiting_older_than(conn: asyncpg.Connection,
                                    hours: int = WAITING_KEPT_HOURS) -> int:
    """Replies whose parent never came (it was not ours to record) are not kept."""
    result = await conn.execute(
        "DELETE FROM cold_call_waiting_replies "
        "WHERE received_at < now() - make_interval(hours => $1)",
        hours,
    )
    return int(result.split()[-1])


async def edit_body(
    conn: asyncpg.Connection, chat_id: int, telegram_message_id: int, user_id: uuid.UUID,
    body: str,
) -> bool:
    """A reply still waiting for its parent is edited where it waits."""
    done = await conn.fetchval(
        """
        WITH recorded AS (
            UPDATE cold_call_messages SET body = $4
            WHERE telegram_chat_id = $1 AND telegram_message_id = $2 AND user_id = $3
            RETURNING true
        ), waiting AS (
            UPDATE cold_call_waiting_replies SET body = $4
            WHERE telegram_chat_id = $1 AND telegram_message_id = $2 AND user_id = $3
            RETURNING true
        )
        SELECT EXISTS (SELECT 1 FROM recorded) OR EXISTS (SELECT 1 FROM waiting)
        """,
        chat_id, telegram_message_id, user_id, body,
    )
    return bool(done)


@dataclass(frozen=True)
class StarResult:
    starred: bool  # the user's star is on the message now
    changed: bool
    stars: int  # the message's star count now


async def set_star(
    conn: asyncpg.Connection, message_id: uuid.UUID, user_id: uuid.UUID, on: bool | None
) -> StarResult:
    """`on` True/False sets the user's star; None toggles it. Unique per (message, user), so
    repeats and races never count twice."""
    require_tx(conn)
    if on is None:
        removed = await conn.fetchval(
            "DELETE FROM cold_call_stars WHERE message_id = $1 AND user_id = $2 RETURNING true",
            message_id, user_id,
        )
        on = not removed
        changed = True
        if on:
            changed = bool(await _add_star(conn, message_id, user_id))
    elif on:
        changed = bool(await _add_star(conn, message_id, user_id))
    else:
        changed = bool(await conn.fetchval(
            "DELETE FROM cold_call_stars WHERE message_id = $1 AND user_id = $2 RETURNING true",
            message_id, user_id,
        ))
    stars = await conn.fetchval(
        "SELECT count(*) FROM cold_call_stars WHERE message_id = $1", message_id
    )
    return StarResult(on, changed, stars)


async def _add_star(conn: asyncpg.Connection, message_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    return await conn.fetchval(
        "INSERT INTO cold_call_stars (message_id, user_id) VALUES ($1, $2) "
        "ON CONFLICT (message_id, user_id) DO NOTHING RETURNING true",
        message_id, user_id,
    )


@dataclass(frozen=True)
class CurrentPrompt:
    post_id: uuid.UUID
    prompt_id: uuid.UUID
    prompt: str
    topic_title: str
    answers: int


async def current_prompt(conn: asyncpg.Connection, cohort_id: uuid.UUID) -> CurrentPrompt | None:
    """The cohort's latest post: a prompt posted again starts a fresh round of answers."""
    row = await conn.fetchrow(
        f"""
        WITH lang AS ({GROUP_LANGUAGE_SQL.format(cohort="$1", poster="NULL::uuid")})
        SELECT cp.id AS post_id, p.id AS prompt_id, coalesce(pt.prompt, p.prompt) AS prompt,
               coalesce(tt.title, t.title) AS topic_title,
               (SELECT count(*) FROM cold_call_messages m
                WHERE m.post_id = cp.id AND NOT m.is_tutor_reply) AS answers
        FROM cold_call_posts cp
        JOIN cold_call_prompts p ON p.id = cp.prompt_id
        JOIN topics t ON t.id = p.topic_id
        LEFT JOIN cold_call_prompt_translations pt ON pt.prompt_id = p.id
             AND pt.language = (SELECT language FROM lang)
        LEFT JOIN topic_translations tt ON tt.topic_id = t.id
             AND tt.language = (SELECT language FROM lang)
        WHERE cp.cohort_id = $1 AND cp.telegram_message_id IS NOT NULL
        ORDER BY cp.posted_at DESC, cp.id LIMIT 1
        """,
        cohort_id,
    )
    return CurrentPrompt(**dict(row)) if row else None


@dataclass(frozen=True)
class TopAnswer:
    message_id: uuid.UUID
    telegram_message_id: int
    author: str
    body: str
    stars: int
    threaded: bool


async def top_answers(
    conn: asyncpg.Connection, post_id: uuid.UUID, limit: int = 5
) -> list[TopAnswer]:
    """Learners' answers to a post (threaded ones included) with at least one star, most
    starred first; ties go to the earlier answer."""
    rows = await conn.fetch(
        """
        SELECT m.id AS message_id, m.telegram_message_id,
               coalesce(nullif(u.display_name, ''), u.username, 'someone') AS author,
               m.body, count(s.id) AS stars, m.parent_id IS NOT NULL AS threaded
        FROM cold_call_messages m
        LEFT JOIN users u ON u.id = m.user_id
        JOIN cold_call_stars s ON s.message_id = m.id
        WHERE m.post_id = $1 AND NOT m.is_tutor_reply
        GROUP BY m.id, u.display_name, u.username
        ORDER BY count(s.id) DESC, m.created_at, m.id
        LIMIT $2
        """,
        post_id, limit,
    )
    return [TopAnswer(**dict(r)) for r in rows]
