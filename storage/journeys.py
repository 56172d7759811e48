"""The daily journey (pulled or pushed) and taking it — seed 000's one-per-day rule.

`journey_deliveries`' unique (course_user_id, local_date) keeps one card a local day: whichever
of the scheduler's claim and a learner's `/today` gets there first creates the day's row, and
the other finds it. Sending a card does not advance the learner; *taking* it does (opening it
with Start or `/today`): a compare-and-set that moves `last_priority` to the immediate next
journey, at most once per local date (`last_taken_on`). What a day offers is `offer_sql`: the
next journey when it may be taken today, else the earliest taken journey still undone.
What the day shows around it is `storage/day.py`; Done is `storage/done.py`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from storage import activity
from storage.completion import unlocked_sql
from storage.pg import json_value, require_tx
from storage.reads import Reader
from storage.uow import AlreadyHandled
from storage.users import TOUCH_EVERY

MIN_PRIORITY = -2_147_483_648
IDLE_CAP_SECONDS = 30 * 60  # time between open and Done counts at most this much

# The topic in the learner's language when the course has it (`tt`: topic_translations joined
# on users.locale); else the persona-specific text when the learner picked a persona and the
# course has a variant (variants are written in the default language only); else the topic.
_BODY_SQL = """
    coalesce(tt.body, (SELECT a.payload ->> 'text' FROM topic_content_assets a
              JOIN topic_personalization tp ON tp.persona = a.persona_key
              WHERE a.topic_id = t.id AND a.content_key = 'body'
                AND tp.user_id = cu.user_id AND tp.course_id = cu.course_id),
             t.text_content)
"""

_VIEW_SELECT = f"""
    SELECT d.id AS delivery_id, d.course_user_id, d.local_date, d.status::text AS status,
           d.source::text AS source, d.kind::text AS kind, d.opened_at, d.done_at, d.attempts,
           cu.user_id, u.telegram_id, u.timezone, cu.course_id, c.slug AS course_slug,
           course_title(c.id, u.locale) AS course_title, t.id AS topic_id,
           coalesce(tt.title, t.title) AS topic_title, t.module_no,
           coalesce(tt.module_title, t.module_title) AS module_title, t.topic_number,
           j.priority, {_BODY_SQL} AS body,
           (SELECT count(*) FROM journeys j2 WHERE j2.course_id = cu.course_id
                AND j2.is_active) AS total,
           (SELECT count(*) FROM journeys j2 WHERE j2.course_id = cu.course_id
                AND j2.is_active AND j2.priority <= j.priority) AS position,
           EXISTS (SELECT 1 FROM journey_deliveries d2 WHERE d2.course_user_id = d.course_user_id
                   AND d2.journey_id = d.journey_id AND d2.local_date < d.local_date) AS waiting,
           coalesce(j.priority <= cu.last_priority, false) AS taken,
           EXISTS (SELECT 1 FROM topic_progress tp WHERE tp.user_id = cu.user_id
                   AND tp.topic_id = t.id AND tp.is_completed) AS completed,
           u.locale
    FROM journey_deliveries d
    JOIN course_users cu ON cu.id = d.course_user_id
    JOIN users u ON u.id = cu.user_id
    JOIN courses c ON c.id = cu.course_id
    JOIN journeys j ON j.id = d.journey_id
    JOIN topics t ON t.id = j.topic_id
    LEFT JOIN topic_translations tt ON tt.topic_id = t.id AND tt.language = u.locale
"""


@dataclass(frozen=True)
class JourneyView:
    delivery_id: uuid.UUID
    course_user_id: uuid.UUID
    local_date: date
    status: str
    source: str
    kind: str
    opened_at: datetime | None
    done_at: datetime | None
    attempts: int
    user_id: uuid.UUID
    telegram_id: int
    timezone: str
    course_id: uuid.UUID
    course_slug: str
    course_title: str
    topic_id: uuid.UUID
    topic_title: str
    module_no: int
    module_title: str
    topic_number: int
    priority: int
    body: str
    total: int
    position: int
    waiting: bool = False  # offered on an earlier day too: "still waiting for you"
    taken: bool = False  # the learner has taken this journey (opened it)
    completed: bool = False  # its topic is done
    locale: str = "en"  # the learner's language: a card sent outside an update speaks it

    @classmethod
    def from_record(cls, r: asyncpg.Record) -> JourneyView:
        return cls(**dict(r))


async def views(conn: asyncpg.Connection, delivery_ids: list[uuid.UUID]) -> list[JourneyView]:
    # The array through a subquery: its length unseen, PostgreSQL plans the statement once and
    # keeps that plan, instead of planning it afresh each call (1 ms, three times its work).
    rows = await conn.fetch(f"{_VIEW_SELECT} WHERE d.id = ANY((SELECT $1::uuid[])::uuid[])",
                            delivery_ids)
    return [JourneyView.from_record(r) for r in rows]


async def view(conn: asyncpg.Connection, delivery_id: uuid.UUID) -> JourneyView | None:
    found = await views(conn, [delivery_id])
    return found[0] if found else None


# --- what a day offers -------------------------------------------------------------------------

def local_date_sql(tz: str, now: str) -> str:
    return f"(({now}::timestamptz AT TIME ZONE {tz})::date)"


_DONE_SQL = """EXISTS (SELECT 1 FROM topic_progress tp WHERE tp.topic_id = j.topic_id
                       AND tp.user_id = {cu}.user_id AND tp.is_completed)"""

# The journey a day offers a course-user (`{cu}` has id, user_id, course_id, last_priority,
# last_taken_on; `{tz}` the learner's zone; `{now}` the instant): the next journey when its module
# is unlocked and no new journey was taken on this local date, else the earliest taken journey
# that isn't done, in an unlocked module. Columns: journey_id, priority, is_new.
OFFER_SQL = """
    (SELECT o.id AS journey_id, o.priority, o.is_new FROM (
        SELECT n.id, n.priority, true AS is_new FROM (
            SELECT j.id, j.priority, {unlocked} AS unlocked
            FROM journeys j JOIN topics t ON t.id = j.topic_id
            WHERE j.course_id = {cu}.course_id AND j.is_active
              AND j.priority > coalesce({cu}.last_priority, {min})
            ORDER BY j.priority LIMIT 1) n
        WHERE n.unlocked AND ({cu}.last_taken_on IS NULL OR {cu}.last_taken_on < {today})
        UNION ALL
        (SELECT j.id, j.priority, false AS is_new
         FROM journeys j JOIN topics t ON t.id = j.topic_id
         WHERE j.course_id = {cu}.course_id AND j.is_active
           AND j.priority <= coalesce({cu}.last_priority, {min})
           AND {unlocked} AND NOT {done}
         ORDER BY j.priority LIMIT 1)
    ) o ORDER BY o.is_new DESC LIMIT 1)
"""


def offer_sql(cu: str, tz: str, now: str) -> str:
    return OFFER_SQL.format(cu=cu, min=MIN_PRIORITY, today=local_date_sql(tz, now),
                            unlocked=unlocked_sql(f"{cu}.user_id"), done=_DONE_SQL.format(cu=cu))


# The immediate next journey of `{cu}`, whether or not it may be taken now.
NEXT_SQL = """
    (SELECT j.id FROM journeys j WHERE j.course_id = {cu}.course_id AND j.is_active
       AND j.priority > coalesce({cu}.last_priority, {min})
     ORDER BY j.priority LIMIT 1)
"""


async def take(conn: asyncpg.Connection, delivery_id: uuid.UUID, now: datetime) -> bool:
    """Take the delivery's journey: a compare-and-set that succeeds only when it is the
    immediate next journey, its module is unlocked and no new journey was taken on the
    learner's local date. Advances `last_priority` and `last_journey_at`."""
    row = await conn.fetchrow(
        f"""
        UPDATE course_users cu SET last_priority = j.priority, last_journey_at = $2,
               last_taken_on = {local_date_sql("u.timezone", "$2")}
        FROM journey_deliveries d, journeys j, topics t, users u
        WHERE d.id = $1 AND cu.id = d.course_user_id AND j.id = d.journey_id
          AND t.id = j.topic_id AND u.id = cu.user_id
          AND j.id = {NEXT_SQL.format(cu="cu", min=MIN_PRIORITY)}
          AND {unlocked_sql("cu.user_id")}
          AND (cu.last_taken_on IS NULL
               OR cu.last_taken_on < {local_date_sql("u.timezone", "$2")})
        RETURNING cu.last_taken_on
        """,
        delivery_id, now,
    )
    if row is None:
        return False
    await conn.execute("UPDATE journey_deliveries SET taken_at = $2 WHERE id = $1",
                       delivery_id, now)
    jv = await view(conn, delivery_id)
    assert jv is not None
    await log_event(conn, jv, "journey.taken", now, {"local_date": row[0].isoformat()})
    return True


@dataclass(frozen=True)
class OpenJourney:
    """A taken journey that isn't done, with the latest delivery that opens it again."""

    delivery_id: uuid.UUID
    topic_title: str
    module_no: int
    position: int


def _open_journeys_sql(cu_id: str, module_no: str) -> str:
    """Taken-but-undone journeys in unlocked modules (of `module_no`, when not NULL), in order;
    `cu_id` and `module_no` are SQL expressions (placeholders)."""
    return f"""
        SELECT DISTINCT ON (j.priority) d.id AS delivery_id,
               coalesce(tt.title, t.title) AS topic_title, t.module_no,
               (SELECT count(*) FROM journeys j2 WHERE j2.course_id = j.course_id
                    AND j2.is_active AND j2.priority <= j.priority) AS position
        FROM course_users cu
        JOIN users u ON u.id = cu.user_id
        JOIN journeys j ON j.course_id = cu.course_id AND j.is_active
        JOIN topics t ON t.id = j.topic_id
        LEFT JOIN topic_translations tt ON tt.topic_id = t.id AND tt.language = u.locale
        JOIN journey_deliveries d ON d.course_user_id = cu.id AND d.journey_id = j.id
        WHERE cu.id = {cu_id} AND j.priority <= coalesce(cu.last_priority, {MIN_PRIORITY})
          AND ({module_no}::int IS NULL OR t.module_no = {module_no})
          AND {unlocked_sql("cu.user_id")} AND NOT {_DONE_SQL.format(cu="cu")}
        ORDER BY j.priority, d.local_date DESC
    """


def open_journeys_json_sql(cu_id: str, module_no: str = "NULL") -> str:
    """`open_journeys` as one JSON array column, to read along with something else in the same
    round trip (`open_journeys_from_json` turns it back). `position` grows with the priority,
    so ordering by it keeps the order of `open_journeys`."""
    return (f"(SELECT coalesce(json_agg(o ORDER BY o.position), '[]') "
            f"FROM ({_open_journeys_sql(cu_id, module_no)}) AS o)")


def open_journeys_from_json(items: list[dict[str, Any]] | str) -> list[OpenJourney]:
    """The column `open_journeys_json_sql` reads, as `open_journeys` returns it."""
    return [OpenJourney(uuid.UUID(o["delivery_id"]), o["topic_title"], o["module_no"],
                        o["position"]) for o in json_value(items)]


async def open_journeys(conn: asyncpg.Connection, course_user_id: uuid.UUID,
                        module_no: int | None = None) -> list[OpenJourney]:
    """Taken-but-undone journeys in unlocked modules (of one module, if given), in order."""
    rows = await conn.fetch(_open_journeys_sql("$1", "$2"), course_user_id, module_no)
    return [OpenJourney(**dict(r)) for r in rows]


def pending_quiz_sql(user: str, course: str) -> str:
    """`pending_quiz` as SQL, for the user and course given as SQL expressions."""
    return _PENDING_QUIZ.format(user=user, course=course)


_PENDING_QUIZ = """
    SELECT min(q.module_no) FROM quiz_questions q
    WHERE q.course_id = {course}
      AND NOT EXISTS (SELECT 1 FROM module_progress mp WHERE mp.user_id = {user}
                      AND mp.course_id = {course} AND mp.module_no = q.module_no
                      AND mp.quiz_passed)
      AND NOT EXISTS (SELECT 1 FROM topics t WHERE t.course_id = {course}
                      AND t.module_no = q.module_no AND t.archived_at IS NULL
                      AND NOT EXISTS (SELECT 1 FROM topic_progress tp
                                      WHERE tp.topic_id = t.id AND tp.user_id = {user}
                                        AND tp.is_completed))
"""
PENDING_QUIZ_SQL = pending_quiz_sql("$1", "$2")


async def pending_quiz(conn: asyncpg.Connection, user_id: uuid.UUID, course_id: uuid.UUID
                       ) -> int | None:
    """The first module whose journeys are all done but whose quiz isn't passed yet."""
    return await conn.fetchval(PENDING_QUIZ_SQL, user_id, course_id)


async def next_steps_of_user(conn: Reader, user_id: uuid.UUID
                            ) -> list[tuple[uuid.UUID, str, list[OpenJourney], int | None]]:
    """For each course the learner is in (left ones excluded), oldest enrollment first: the
    course id, its title in the learner's language, its `open_journeys` and `pending_quiz`;
    the courses (as `enrollments.course_users_of`) and all of that in one round trip."""
    rows = await conn.fetch(
        f"""
        SELECT ocu.course_id, course_title(ocu.course_id, u.locale) AS title,
               ({pending_quiz_sql("$1", "ocu.course_id")}) AS quiz_module,
               {open_journeys_json_sql("ocu.id")} AS open
        FROM course_users ocu JOIN users u ON u.id = ocu.user_id
        WHERE ocu.user_id = $1 AND ocu.left_at IS NULL ORDER BY ocu.created_at
        """,
        user_id,
    )
    return [(r["course_id"], r["title"], open_journeys_from_json(r["open"]), r["quiz_module"])
            for r in rows]


def _locked_columns(now: str) -> str:
    """The course-user's columns `lock_course_user` reads; `existing` is the day's delivery
    on the learner's local date at `now` (an SQL expression; NULL: not looked for)."""
    return f"""
    cu.id, cu.user_id, cu.course_id, cu.last_priority, cu.last_taken_on,
    (SELECT s.next_due_at FROM course_user_schedule s WHERE s.course_user_id = cu.id)
        AS next_due_at,
    u.timezone,
    CASE WHEN {now} IS NOT NULL THEN
        (SELECT d.id FROM journey_deliveries d WHERE d.course_user_id = cu.id
           AND d.local_date = {local_date_sql("u.timezone", now)})
    END AS existing
"""


_LOCKED_COLUMNS = _locked_columns("$2::timestamptz")


async def lock_course_user(conn: asyncpg.Connection, course_user_id: uuid.UUID,
                           now: datetime | None = None) -> asyncpg.Record | None:
    """The course-user, locked; with `now`, also `existing`: the day's delivery (if any) on
    the learner's local date."""
    require_tx(conn)
    return await conn.fetchrow(
        f"""
        SELECT {_LOCKED_COLUMNS}
        FROM course_users cu JOIN users u ON u.id = cu.user_id
        WHERE cu.id = $1 FOR UPDATE OF cu
        """,
        course_user_id, now,
    )


async def lock_course_users_of(conn: asyncpg.Connection, user_id: uuid.UUID,
                               now: datetime) -> list[asyncpg.Record]:
    """`lock_course_user` for each course the learner is in (left ones excluded), oldest
    enrollment first (the order they are locked in), each with its course's `title` in the
    learner's language: `enrollments.course_users_of` and the locks in one round trip."""
    require_tx(conn)
    return await conn.fetch(
        f"""
        SELECT {_LOCKED_COLUMNS}, course_title(cu.course_id, u.locale) AS title
        FROM course_users cu JOIN users u ON u.id = cu.user_id
        WHERE cu.user_id = $1 AND cu.left_at IS NULL
        ORDER BY cu.created_at FOR UPDATE OF cu
        """,
        user_id, now,
    )


async def open_taking(conn: asyncpg.Connection, delivery_id: uuid.UUID, now: datetime,
                      source: str | None) -> JourneyView | None:
    """Open a delivery: mark it opened, take its journey when it is the next one, start the
    clock on the topic. Returns None when the journey can't be opened yet (not taken and not
    the next one to take)."""
    return (await open_taking_and(conn, delivery_id, now, source))[0]


async def open_taking_and(conn: asyncpg.Connection, delivery_id: uuid.UUID, now: datetime,
                          source: str | None, also: str | None = None, *also_args: Any,
                          ) -> tuple[JourneyView | None, dict[str, Any] | None]:
    """`open_taking`, and the one row of the query `also` (placeholders from $3, `also_args`)
    as a dict when it could be read in the same statement: when the delivery took its
    journey already, so nothing is taken. `also` then sees the database as it was before the
    delivery was marked opened and its topic's clock started; else it is None."""
    # One statement for the common case, a delivery that took its journey already: mark it
    # opened, read its view and, when the view says the journey is taken, start the clock
    # (`_touch_progress`). The view sees the delivery as it was before the UPDATE, which
    # changes nothing it shows but `opened_at` (taken from RETURNING).
    row = await conn.fetchrow(
        f"""
        WITH upd AS (
            UPDATE journey_deliveries SET opened_at = coalesce(opened_at, $2) WHERE id = $1
            RETURNING id, opened_at, opened_at = $2 AS first, taken_at IS NOT NULL AS taken
        ), v AS (
            {_VIEW_SELECT} WHERE d.id = $1
        ), touch AS (
            {_TOUCH_SQL.format(source="upd, v", where="upd.taken AND v.taken", now="$2", order="",
                               user="v.user_id", course="v.course_id", topic="v.topic_id")}
        ){f", also AS ({also})" if also else ""}
        SELECT upd.first AS _first, upd.taken AS _taken, upd.opened_at AS _opened_at,
               {"(SELECT row_to_json(a) FROM also AS a)" if also else "NULL::json"} AS _also,
               v.*
        FROM upd LEFT JOIN v ON true
        """,
        delivery_id, now, *also_args,
    )
    also_row = None
    first = row["_first"] if row is not None else None
    jv: JourneyView | None
    touched = False
    if row is None or not row["_taken"]:
        # A delivery that took its journey already can't take it again (the journey is no
        # longer the next one): only the others need the compare-and-set, and a new view.
        await take(conn, delivery_id, now)
        jv = await view(conn, delivery_id)
    elif row["delivery_id"] is None:
        jv = None
    else:
        fields = {k: v for k, v in row.items() if not k.startswith("_")}
        jv = JourneyView(**{**fields, "opened_at": row["_opened_at"]})
        touched = True  # by the statement, exactly when jv.taken
        also_row = json_value(row["_also"])
    if jv is None:
        return None, also_row
    if not jv.taken:
        return jv, also_row
    if not touched:
        await _touch_progress(conn, delivery_id, now)
    if first:
        await log_event(conn, jv, "journey.opened", now, {"source": source or jv.source})
    return jv, also_row


# Start (or restart) the clock on a topic; every fresh opening counts one attempt at `{now}`.
_TOUCH_SQL = """
    INSERT INTO topic_progress (user_id, course_id, topic_id, opened_at, attempts,
                                first_started_at, last_accessed_at)
    SELECT {user}, {course}, {topic}, {now}, 1, {now}, {now}
    FROM {source}
    WHERE {where}
    {order}
    ON CONFLICT (user_id, topic_id) DO UPDATE SET
        attempts = topic_progress.attempts
                   + CASE WHEN topic_progress.opened_at IS NULL THEN 1 ELSE 0 END,
        opened_at = coalesce(topic_progress.opened_at, EXCLUDED.opened_at),
        last_accessed_at = greatest(topic_progress.last_accessed_at, EXCLUDED.last_accessed_at)
"""


# A topic whose clock runs and whose last access is at most `TOUCH_EVERY` old needs no write
# when shown again: `last_accessed_at` lags by at most that, as users' `last_seen_at` does,
# and two batches showing one learner's day don't queue on the row.
_CLOCK_STOPPED_OR_STALE = f"""NOT EXISTS (
    SELECT FROM topic_progress tp
    WHERE tp.user_id = shown.user_id AND tp.topic_id = shown.topic_id
      AND tp.opened_at IS NOT NULL AND tp.last_accessed_at <= shown.now
      AND tp.last_accessed_at > shown.now - interval '{TOUCH_EVERY}')"""


def again_sql(situation: str) -> str:
    """The day again, as one statement for a batch of learners (`storage.day.today_again`),
    for a day whose journeys are all taken and opened already (the learner asks for it
    again): each topic's clock restarted as opening does (`_TOUCH_SQL`; not rewritten while
    it runs and was touched less than `TOUCH_EVERY` ago) and the update recorded.

    A `Transactor.recording` statement, one array per parameter over the batch's calls: `$1`
    the learners, `$2` their instants, `$3`/`$4` the records (bot and update ids, NULLs for
    none), `$5` the calls' numbers. Per call, one row per course in enrollment order:
    `_course_id`, `_title`, `_due`, the view's columns, and `_situation`, the row of the query
    `situation` (placeholders `{user}`, `{course}`, `{course_user}`) as JSON; or one row with
    `_ok` false, having changed nothing for it, when a course's day needs more (no delivery
    yet, one not taken or never opened) or the learner is in no course."""
    # The arrays are read through subqueries so that the planner can't see their lengths:
    # then a plan for this call is the same as the generic one, which PostgreSQL keeps after
    # five calls. Seeing them, it may plan every batch afresh, which costs more than the
    # batch's work (7 ms a plan).
    # No course row is locked, unlike the unit of work's opening: nothing is taken, and one
    # statement reads one snapshot. `ok` decides from it whether the statement is a call's
    # whole day; only then are its record and clocks written. Of twins (one update twice in
    # a batch) only the first call goes on; the other finds the record. Rows are written in
    # key order, so two batches queue on a row rather than deadlock. Without the lock, a
    # Done committing while this runs can leave the card shown as before it (its Done
    # button then says "done already"), with the clock restarted as a `/today` after Done
    # does.
    return f"""
        WITH i AS (
            SELECT * FROM unnest((SELECT $1::uuid[]), (SELECT $2::timestamptz[]),
                                 (SELECT $3::bigint[]), (SELECT $4::bigint[]),
                                 (SELECT $5::int[])) AS i(user_id, now, bot_id, update_id, call)
        ), cus AS (
            SELECT i.call, {_locked_columns("i.now")},
                   course_title(cu.course_id, u.locale) AS title, cu.created_at
            FROM i JOIN course_users cu ON cu.user_id = i.user_id AND cu.left_at IS NULL
            JOIN users u ON u.id = cu.user_id
        ), v AS (
            {_VIEW_SELECT} WHERE d.id IN (SELECT existing FROM cus)
        ), ok AS (
            SELECT i.call, i.bot_id, i.update_id,
                   count(cus.id) > 0 AND bool_and(coalesce(v.taken AND v.opened_at IS NOT NULL,
                                                           false)) AS ok
            FROM i LEFT JOIN cus ON cus.call = i.call
            LEFT JOIN v ON v.delivery_id = cus.existing
            GROUP BY i.call, i.bot_id, i.update_id
        ), rec AS (
            INSERT INTO processed_updates (bot_id, update_id)
            SELECT bot_id, update_id FROM ok WHERE ok.ok AND bot_id IS NOT NULL
            ORDER BY bot_id, update_id
            ON CONFLICT DO NOTHING RETURNING bot_id, update_id
        ), go AS (
            SELECT ok.call, ok.bot_id IS NOT NULL AS recorded FROM ok
            WHERE ok.ok AND (ok.bot_id IS NULL OR (
                EXISTS (SELECT FROM rec WHERE rec.bot_id = ok.bot_id
                                          AND rec.update_id = ok.update_id)
                AND ok.call = (SELECT min(twin.call) FROM ok AS twin WHERE twin.ok
                               AND twin.bot_id = ok.bot_id AND twin.update_id = ok.update_id)))
        ), touch AS (
            {_TOUCH_SQL.format(
                source="(SELECT DISTINCT ON (v.user_id, v.topic_id) v.user_id, v.course_id, "
                       "v.topic_id, i.now FROM v JOIN cus ON cus.existing = v.delivery_id "
                       "JOIN go ON go.call = cus.call JOIN i ON i.call = cus.call "
                       "ORDER BY v.user_id, v.topic_id, i.now) AS shown",
                where=_CLOCK_STOPPED_OR_STALE, now="shown.now", user="shown.user_id",
                course="shown.course_id", topic="shown.topic_id",
                order="ORDER BY shown.user_id, shown.topic_id")}
        )
        SELECT ok.ok AS _ok, go.call IS NOT NULL AS _go, coalesce(go.recorded, false) AS _recorded,
               c.*, ok.call AS _call
        FROM ok LEFT JOIN go ON go.call = ok.call LEFT JOIN LATERAL (
            SELECT cus.course_id AS _course_id, cus.title AS _title, cus.next_due_at AS _due,
                   cus.created_at AS _created, row_to_json(s) AS _situation, v.*
            FROM cus JOIN v ON v.delivery_id = cus.existing
            CROSS JOIN LATERAL ({situation.format(user="cus.user_id", course="cus.course_id",
                                                  course_user="cus.id")}) AS s
            WHERE cus.call = ok.call AND ok.ok
        ) AS c ON true
        ORDER BY ok.call, c._created
    """


def again_rows(rows: list[asyncpg.Record]
               ) -> list[tuple[asyncpg.Record, JourneyView, dict[str, Any]]] | None:
    """`again_sql`'s rows: per course the row, the view and the situation; None when the
    day needs more. Raises `AlreadyHandled` when the update was recorded before."""
    if not rows[0]["_ok"]:
        return None
    if not rows[0]["_go"]:
        raise AlreadyHandled("recorded before")
    return [(r, JourneyView(**{k: v for k, v in r.items() if not k.startswith("_")}),
             json_value(r["_situation"])) for r in rows]


async def _touch_progress(conn: asyncpg.Connection, delivery_id: uuid.UUID, now: datetime) -> None:
    """Start (or restart) the clock on the topic; every fresh opening counts one attempt."""
    await conn.execute(
        _TOUCH_SQL.format(
            now="$2", order="",
            source="journey_deliveries d JOIN course_users cu ON cu.id = d.course_user_id "
                   "JOIN journeys j ON j.id = d.journey_id",
            where="d.id = $1", user="cu.user_id", course="cu.course_id", topic="j.topic_id"),
        delivery_id, now,
    )


async def lock_owned(conn: asyncpg.Connection, delivery_id: uuid.UUID, user_id: uuid.UUID
                      ) -> asyncpg.Record | None:
    """The course-user row behind a delivery, locked — only if `user_id` owns the delivery."""
    cu_id = await conn.fetchval(
        "SELECT d.course_user_id FROM journey_deliveries d JOIN course_users cu "
        "ON cu.id = d.course_user_id WHERE d.id = $1 AND cu.user_id = $2",
        delivery_id, user_id,
    )
    return await lock_course_user(conn, cu_id) if cu_id is not None else None


async def log_event(
    conn: asyncpg.Connection, jv: JourneyView, kind: str, now: datetime, payload: dict
) -> None:
    await activity.log(conn, user_id=jv.user_id, course_id=jv.course_id, topic_id=jv.topic_id,
                       event_type=kind, payload=payload, at=now)
