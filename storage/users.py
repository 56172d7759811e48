"""Users: upsert on every update, role, preferences (zone, hour, pause), reachability."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from storage.pg import require_tx


@dataclass(frozen=True)
class User:
    id: uuid.UUID
    telegram_id: int
    display_name: str
    username: str | None
    role: str
    timezone: str
    delivery_hour: int
    paused: bool
    is_reachable: bool
    locale: str = "en"
    xp_total: int = 0
    streak_current: int = 0
    streak_longest: int = 0

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @classmethod
    def from_record(cls, r: asyncpg.Record) -> User:
        return cls(**{k: r[k] for k in cls.__dataclass_fields__})


_COLUMNS = ", ".join(User.__dataclass_fields__)


# What an update from a known user refreshes ($6: make admin, $7: the bot's clock).
_REFRESH = f"""ON CONFLICT (telegram_id) DO UPDATE SET
            display_name = EXCLUDED.display_name,
            username = EXCLUDED.username,
            role = CASE WHEN $6 THEN 'admin'::user_role ELSE users.role END,
            is_reachable = true,
            unreachable_at = NULL,
            last_seen_at = now(),
            last_active_at = coalesce($7::timestamptz, now())
        RETURNING {_COLUMNS}"""


async def set_locale(conn: asyncpg.Connection, user_id: uuid.UUID, locale: str) -> User | None:
    """The learner's chosen language (the table's CHECK keeps it a short language tag)."""
    row = await conn.fetchrow(
        f"UPDATE users SET locale = $2 WHERE id = $1 RETURNING {_COLUMNS}", user_id, locale)
    return User.from_record(row) if row else None


async def get_by_telegram_id(conn: asyncpg.Connection, telegram_id: int) -> User | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE telegram_id = $1", telegram_id)
    return User.from_record(row) if row else None


async def get(conn: asyncpg.Connection, user_id: uuid.UUID) -> User | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE id = $1", user_id)
    return User.from_record(row) if row else None


# The next delivery instant: the learner's next local `hour:00` strictly after `now`,
# computed by PostgreSQL's tz database so DST gaps and overlaps are handled in one place.
NEXT_DUE_SQL = """
    (SELECT CASE WHEN today_at > $now THEN today_at ELSE tomorrow_at END
     FROM (SELECT (((($now AT TIME ZONE {tz})::date) + make_time({hour}, 0, 0))
                   AT TIME ZONE {tz}) AS today_at,
                  (((($now AT TIME ZONE {tz})::date + 1) + make_time({hour}, 0, 0))
                   AT TIME ZONE {tz}) AS tomorrow_at) AS s)
"""


def next_due_sql(tz: str, hour: str, now: str) -> str:
    return NEXT_DUE_SQL.replace("$now", now).format(tz=tz, hour=hour)


# Scheduling a course-user (migration 0290): its row in `course_user_schedule`, inserted or
# moved. A new row says whether the course is paused (the schedule's trigger checks it); an
# existing one already does.
ON_CONFLICT_RESCHEDULE = (
    "ON CONFLICT (course_user_id) DO UPDATE SET next_due_at = EXCLUDED.next_due_at")

# What an `UPDATE course_users cu ... FROM users u` that brings a course-user back returns,
# for `schedule_back_sql` to schedule it at the learner's next delivery hour after `{now}`.
BACK_COLUMNS = """cu.id, cu.user_id, cu.course_id, cu.paused_at IS NOT NULL AS paused,
               cu.completed_at IS NULL AND cu.left_at IS NULL AND cu.lapsed_at IS NULL
                   AS schedulable,
               {due} AS due"""


def back_columns(now: str) -> str:
    return BACK_COLUMNS.format(due=next_due_sql("u.timezone", "u.delivery_hour", now))


def schedule_back_sql(back: str) -> str:
    """Schedule the course-users the CTE `back` (returning `back_columns`) brought back: only
    those still in their course (a completed or left one has no schedule)."""
    return f"""
        INSERT INTO course_user_schedule (course_user_id, next_due_at, paused)
        SELECT id, due, paused FROM {back} WHERE schedulable
        {ON_CONFLICT_RESCHEDULE}"""


# A user whose row already says all of this needs no write: their last write is at most this
# old on both clocks (wall clock for last_seen_at, the bot's clock for last_active_at).
TOUCH_EVERY = "1 minute"


def arrival(
    telegram_id: int,
    *,
    display_name: str,
    username: str | None,
    default_timezone: str,
    default_hour: int,
    make_admin: bool = False,
    now: datetime | None = None,
    bot_id: int,
    update_id: int,
    locale: str = "en",
) -> tuple[Any, ...]:
    """`arrive`'s parameters in the order its statement takes them ($1 … $10); the one place
    that order is written, for the single (`arrive`) and the pipelined (`arrive_many`) path."""
    return (telegram_id, display_name[:200], username, default_timezone, default_hour,
            make_admin, now, bot_id, update_id, locale)


# $1 telegram_id, $2 display_name, $3 username, $4 default_timezone, $5 default_hour,
# $6 make_admin, $7 now, $8 bot_id, $9 update_id, $10 locale (see `arrival`). Always one row.
_ARRIVE = f"""
        WITH dup AS (
            SELECT EXISTS (SELECT 1 FROM processed_updates
                           WHERE bot_id = $8 AND update_id = $9) AS seen
        ), cur AS (
            SELECT {_COLUMNS} FROM users
            WHERE telegram_id = $1 AND display_name = $2 AND username IS NOT DISTINCT FROM $3
              AND (NOT $6 OR role = 'admin') AND is_reachable AND unreachable_at IS NULL
              AND last_seen_at > now() - interval '{TOUCH_EVERY}'
              AND last_active_at <= coalesce($7::timestamptz, now())
              AND last_active_at > coalesce($7::timestamptz, now()) - interval '{TOUCH_EVERY}'
        ), up AS (
            INSERT INTO users (telegram_id, display_name, username, timezone, delivery_hour,
                               role, last_seen_at, last_active_at, locale)
            SELECT $1, $2, $3, $4, $5,
                   CASE WHEN $6 THEN 'admin' ELSE 'learner' END::user_role,
                   now(), coalesce($7::timestamptz, now()), $10
            WHERE NOT (SELECT seen FROM dup) AND NOT EXISTS (SELECT 1 FROM cur)
            {_REFRESH}
        ), me AS (
            SELECT * FROM up UNION ALL SELECT * FROM cur WHERE NOT (SELECT seen FROM dup)
        ), back AS (
            UPDATE course_users cu SET lapsed_at = NULL
            FROM users u
            WHERE $7::timestamptz IS NOT NULL AND cu.user_id = (SELECT id FROM me)
              AND u.id = cu.user_id AND cu.lapsed_at IS NOT NULL
            RETURNING {back_columns("$7::timestamptz")}
        ), sched AS ({schedule_back_sql("back")}
        ), ev AS (
            INSERT INTO learner_activity_events (user_id, course_id, event_type, created_at)
            SELECT user_id, course_id, 'course.welcome_back', $7::timestamptz FROM back
        )
        SELECT (SELECT seen FROM dup) AS seen, me.* FROM (SELECT 1) AS one LEFT JOIN me ON true"""


async def arrive(conn: asyncpg.Connection, telegram_id: int, **fields: Any
                 ) -> tuple[bool, User | None]:
    """The per-update work of the bot's middleware in one round trip: whether (bot, update)
    was already handled, and, when not, the sender created or refreshed, with a lapsed
    learner's courses resumed where they left off (when `now` is given). `fields` are `arrival`'s.

    Admins from settings are promoted; nobody is demoted here. Any update from a user proves
    the chat works again, so `is_reachable` is restored. A sender seen less than
    `TOUCH_EVERY` ago (both clocks) whose name, username, role and reachability already match
    is only read: `last_seen_at` / `last_active_at` then lag by at most `TOUCH_EVERY`.
    `locale` is a new user's language only: a known user's stored choice stays. Returns
    (seen, user); user is None when seen."""
    return _arrived(await conn.fetchrow(_ARRIVE, *arrival(telegram_id, **fields)))


async def arrive_many(conn: asyncpg.Connection, arrivals: Sequence[tuple[Any, ...]]
                      ) -> list[tuple[bool, User | None]]:
    """`arrive` for several updates (`arrival` tuples) in one round trip: the statement is
    pipelined once per tuple under one Sync, so they run in order as one implicit transaction
    (a later tuple sees what an earlier one wrote, e.g. the same sender twice) and roll back
    together when one fails. Results in the order of `arrivals`."""
    rows = await conn.fetchmany(_ARRIVE, arrivals)
    if len(rows) != len(arrivals):  # the statement returns one row each; anything else is a bug
        raise RuntimeError(f"arrive_many: {len(rows)} rows for {len(arrivals)} arrivals")
    return [_arrived(row) for row in rows]


def _arrived(row: asyncpg.Record) -> tuple[bool, User | None]:
    if row["seen"]:
        return True, None
    return False, User.from_record(row)


async def is_time_zone(conn: asyncpg.Connection, name: str) -> bool:
    """Whether PostgreSQL can compute local times in `name` (see migration 0150)."""
    return bool(await conn.fetchval("SELECT is_time_zone($1)", name))


async def set_timezone(
    conn: asyncpg.Connection, user_id: uuid.UUID, tz: str, now: datetime
) -> bool:
    """Change the zone and move pending deliveries to the learner's new local hour; False
    (nothing changed) for a zone PostgreSQL doesn't know. Call inside a transaction: the zone
    and the schedule change together."""
    require_tx(conn)
    if not await is_time_zone(conn, tz):
        return False
    await conn.execute("UPDATE users SET timezone = $2 WHERE id = $1", user_id, tz)
    await _reschedule(conn, user_id, now)
    return True


async def set_delivery_hour(
    conn: asyncpg.Connection, user_id: uuid.UUID, hour: int, now: datetime
) -> None:
    """Set the hour and move pending deliveries to it. Call inside a transaction: the hour
    and the schedule change together."""
    require_tx(conn)
    await conn.execute("UPDATE users SET delivery_hour = $2 WHERE id = $1", user_id, hour)
    await _reschedule(conn, user_id, now)


async def _reschedule(conn: asyncpg.Connection, user_id: uuid.UUID, now: datetime,
                      course_id: uuid.UUID | None = None) -> None:
    # Today's journey, if already taken, keeps its local date; the unique key on
    # (course_user, local_date) stops a second one whatever the new zone says.
    await conn.execute(
        f"""
        INSERT INTO course_user_schedule (course_user_id, next_due_at, paused)
        SELECT cu.id, {next_due_sql("u.timezone", "u.delivery_hour", "$2::timestamptz")},
               cu.paused_at IS NOT NULL
        FROM course_users cu JOIN users u ON u.id = cu.user_id
        WHERE cu.user_id = $1 AND cu.completed_at IS NULL
          AND cu.left_at IS NULL AND cu.lapsed_at IS NULL
          AND ($3::uuid IS NULL OR cu.course_id = $3)
        {ON_CONFLICT_RESCHEDULE}
        """,
        user_id,
        now,
        course_id,
    )


async def pause(conn: asyncpg.Connection, user_id: uuid.UUID,
                course_id: uuid.UUID | None = None, now: datetime | None = None) -> None:
    """Pause every course (the user's switch), or one course (its course-user's)."""
    if course_id is None:
        await conn.execute("UPDATE users SET paused = true WHERE id = $1", user_id)
        return
    await conn.execute(
        "UPDATE course_users SET paused_at = coalesce(paused_at, coalesce($3, now())) "
        "WHERE user_id = $1 AND course_id = $2",
        user_id, course_id, now,
    )


async def resume(conn: asyncpg.Connection, user_id: uuid.UUID, now: datetime,
                 course_id: uuid.UUID | None = None) -> None:
    """Unpause (everything, or one course); the next delivery is the learner's next local hour,
    not the days missed. The caller's unit of work holds the three statements together."""
    if course_id is None:
        await conn.execute("UPDATE users SET paused = false WHERE id = $1", user_id)
    await conn.execute(
        "UPDATE course_users SET paused_at = NULL WHERE user_id = $1 "
        "AND ($2::uuid IS NULL OR course_id = $2)",
        user_id, course_id,
    )
    await _reschedule(conn, user_id, now, course_id)


async def mark_unreachable(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE users SET is_reachable = false, unreachable_at = now() WHERE id = $1", user_id
    )


async def set_role(conn: asyncpg.Connection, user_id: uuid.UUID, role: str) -> None:
    await conn.execute("UPDATE users SET role = $2::user_role WHERE id = $1", user_id, role)
