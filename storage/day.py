"""What a learner's day holds: `/today` (the day's journey, pulled or already there) and the
Start button on a card, each with what else is open and the next step (catch-up buttons,
the module whose journeys block the next one, a quiz to take).

The one-per-day rule and taking a journey live in `storage/journeys.py`; this module only
decides what the day shows, inside the caller's unit of work."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from storage import journeys
from storage.completion import unlocked_sql
from storage.journeys import (
    MIN_PRIORITY,
    NEXT_SQL,
    JourneyView,
    OpenJourney,
    local_date_sql,
    lock_course_user,
    lock_course_users_of,
    lock_owned,
    offer_sql,
    open_journeys,
    open_journeys_from_json,
    open_journeys_json_sql,
    open_taking_and,
    pending_quiz_sql,
)
from storage.pg import require_tx
from storage.uow import Transactor


@dataclass(frozen=True)
class TodayResult:
    view: JourneyView | None
    fresh: bool  # False: the day's journey already existed and is shown again
    finished: bool  # no journey left in the course
    locked_after: int | None = None  # next journey waits for this module to be completed
    open: tuple[OpenJourney, ...] = ()  # other taken journeys still undone (buttons)
    missing: tuple[OpenJourney, ...] = ()  # the undone journeys of the module `locked_after`
    quiz_module: int | None = None  # a module whose quiz is the next step
    next_due_at: datetime | None = None


async def today(conn: asyncpg.Connection, course_user_id: uuid.UUID, now: datetime) -> TodayResult:
    """Today's journey for one course-user: the day's existing one, else what the day offers
    (opening it takes it when it is the next journey); plus what else is open.
    Call inside a transaction: its statements commit or fail together."""
    require_tx(conn)
    cu = await lock_course_user(conn, course_user_id, now)
    if cu is None:
        return TodayResult(None, False, False)
    return await _today(conn, cu, now)


async def today_of_user(conn: asyncpg.Connection, user_id: uuid.UUID, now: datetime
                        ) -> list[tuple[asyncpg.Record, TodayResult]]:
    """`today` for each course the learner is in, oldest enrollment first, each with its
    locked course-user row (`id`, `course_id`, `title`...); the courses are read and locked
    in one statement. Call inside a transaction."""
    require_tx(conn)
    return [(cu, await _today(conn, cu, now))
            for cu in await lock_course_users_of(conn, user_id, now)]


async def today_again(db: Transactor, user_id: uuid.UUID, now: datetime,
                      ) -> list[tuple[Mapping[str, Any], TodayResult]] | None:
    """`today_of_user` as one statement of its own, grouped with the other updates' (no
    unit of work), for the day a learner asks for again: every course's day's journey
    taken and opened already (`journeys.again_sql`). None, having changed nothing, when the
    day needs more: then call `today_of_user` in a unit of work. Raises
    `storage.uow.AlreadyHandled` when the update was recorded before."""
    rows = journeys.again_rows(await db.recording(_AGAIN, user_id, now))
    if rows is None:
        return None
    return [({"course_id": r["_course_id"], "title": r["_title"]},
             _shown(r["_due"], jv, False, row, open_journeys_from_json(row["missing"] or [])))
            for r, jv, row in rows]


async def _today(conn: asyncpg.Connection, cu: asyncpg.Record, now: datetime) -> TodayResult:
    course_user_id = cu["id"]
    existing = cu["existing"]
    fresh = False
    delivery_id = existing
    if existing is None:
        offer = await conn.fetchrow(
            f"SELECT o.* FROM course_users cu, LATERAL {offer_sql('cu', '$3', '$2')} o "
            "WHERE cu.id = $1",
            course_user_id, now, cu["timezone"],
        )
        if offer is not None:
            delivery_id = await conn.fetchval(
                f"""
                INSERT INTO journey_deliveries (course_user_id, journey_id, local_date,
                    source, status, sent_at, opened_at, attempts)
                VALUES ($1, $2, {local_date_sql("$4", "$3")}, 'pulled', 'sent', $3, $3, 1)
                ON CONFLICT (course_user_id, local_date) DO NOTHING
                RETURNING id
                """,
                course_user_id, offer["journey_id"], now, cu["timezone"],
            )
            fresh = delivery_id is not None
    jv = situation = None
    if delivery_id is not None:
        # The situation is read with the opening when nothing is taken: marking the delivery
        # opened and starting the topic's clock change nothing it depends on.
        jv, situation = await _open_with_situation(conn, cu, delivery_id, now,
                                                   "pulled" if fresh else None)
    return await _situation(conn, cu, jv, fresh, now, situation)


def _situation_sql(user_id: str, course_id: str, course_user_id: str, *,
                   missing: bool = False) -> str:
    """What else is open (`open_journeys`), the pending quiz (see `pending_quiz`) and the next
    journey's module, as one row; the arguments are SQL expressions (placeholders). With
    `missing`, also the open journeys of the module a locked next one waits for."""
    waits = (f""", CASE WHEN NOT n.unlocked THEN
                   {open_journeys_json_sql(course_user_id, "(n.module_no - 1)")} END AS missing"""
             if missing else "")
    return f"""
        SELECT ({pending_quiz_sql(user_id, course_id)}) AS quiz_module, n.module_no,
               n.unlocked, {open_journeys_json_sql(course_user_id)} AS open{waits}
        FROM (SELECT 1) AS one LEFT JOIN (
            SELECT t.module_no, {unlocked_sql("cu.user_id")} AS unlocked
            FROM course_users cu JOIN journeys j ON j.id = {NEXT_SQL.format(cu="cu",
                                                                          min=MIN_PRIORITY)}
            JOIN topics t ON t.id = j.topic_id WHERE cu.id = {course_user_id}
        ) AS n ON true
    """


# Built once: they run on every /today and Start.
_SITUATION = _situation_sql("$1", "$2", "$3")
_SITUATION_AFTER_OPEN = _situation_sql("$3", "$4", "$5")  # after open_taking_and's own two
_AGAIN = journeys.again_sql(
    _situation_sql("{user}", "{course}", "{course_user}", missing=True))


async def _open_with_situation(conn: asyncpg.Connection, cu: asyncpg.Record,
                               delivery_id: uuid.UUID, now: datetime, source: str | None,
                               ) -> tuple[JourneyView | None, dict[str, Any] | None]:
    """`open_taking`, with the day's situation read in the same statement when it can be."""
    return await open_taking_and(conn, delivery_id, now, source, _SITUATION_AFTER_OPEN,
                                 cu["user_id"], cu["course_id"], cu["id"])


async def _situation(conn: asyncpg.Connection, cu: asyncpg.Record, jv: JourneyView | None,
                     fresh: bool, now: datetime, row: Mapping[str, Any] | None = None,
                     ) -> TodayResult:
    """Around the day's journey (if any): what else is open, and what the next step is
    (`row`: `_situation_sql` when it was read already)."""
    if row is None:
        row = await conn.fetchrow(_SITUATION,
                                  cu["user_id"], cu["course_id"], cu["id"])
        assert row is not None
    waiting: list[OpenJourney] = []
    if row["module_no"] is not None and not row["unlocked"]:
        waiting = await open_journeys(conn, cu["id"], row["module_no"] - 1)
    # locked by `lock_course_user`; taking a journey leaves it alone
    return _shown(cu["next_due_at"], jv, fresh, row, waiting)


def _shown(due: datetime | None, jv: JourneyView | None, fresh: bool, row: Mapping[str, Any],
           waiting: list[OpenJourney]) -> TodayResult:
    """The day around its journey `jv`, from the situation `row` (`_situation_sql`) and the
    open journeys of the module a locked next one waits for (`waiting`)."""
    others = tuple(o for o in open_journeys_from_json(row["open"])
                   if jv is None or o.position != jv.position)
    quiz_module = row["quiz_module"]
    nxt = row if row["module_no"] is not None else None
    locked_after = None
    missing: tuple[OpenJourney, ...] = ()
    if nxt is not None and not nxt["unlocked"]:
        locked_after = nxt["module_no"] - 1
        missing = tuple(o for o in waiting if jv is None or o.position != jv.position)
    finished = (jv is None and nxt is None and not others and quiz_module is None)
    return TodayResult(jv, fresh, finished, locked_after, others, missing, quiz_module, due)


async def open_delivery(
    conn: asyncpg.Connection, delivery_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> TodayResult | None:
    """The learner pressed Start on a card (or a catch-up button). Only the owner may open it.
    `view.taken` is False when the journey can't be opened yet (another was taken today).
    Call inside a transaction: its statements commit or fail together."""
    require_tx(conn)
    cu = await lock_owned(conn, delivery_id, user_id)
    if cu is None:
        return None
    jv, situation = await _open_with_situation(conn, cu, delivery_id, now, None)
    if jv is None:
        return None
    return await _situation(conn, cu, jv, False, now, situation)
