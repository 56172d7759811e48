"""The cold-call reply use case: what a reply in a cohort's linked group does, in the caller's
transaction. The router only reads Telegram's message and sends the "how to join" hint.

A reply is recorded when it answers a prompt post or a recorded reply of this cohort, by a
member or its staff; a learner's answer is logged as a `cold_call.reply` event once. A
member's reply whose parent isn't stored *yet* (updates overtake each other) waits for it
(`coldcalls.wait_for_parent`), and every message stored links the replies waiting on it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from storage import activity, cohorts, coldcalls, tutors
from storage.cohorts import Cohort
from storage.pg import require_tx


@dataclass(frozen=True)
class GroupReply:
    """What the router read off Telegram's message."""

    chat_id: int
    telegram_message_id: int
    reply_to_message_id: int
    body: str


@dataclass(frozen=True)
class ReplyOutcome:
    cohort: Cohort
    outsider: bool  # not a member, and answered one of ours: tell them how to join


async def take_reply(
    conn: asyncpg.Connection, reply: GroupReply, *, user_id: uuid.UUID, is_admin: bool,
    may_wait: Callable[[Cohort], bool], at: datetime,
) -> ReplyOutcome | None:
    """Record, keep waiting, or ignore a reply in a group (None: not a cohort's business).
    `may_wait(cohort)` says whether this reply may wait for a parent not stored yet."""
    require_tx(conn)
    cohort = await cohorts.get_by_chat(conn, reply.chat_id)
    if cohort is None or not cohort.is_active:
        return None
    await coldcalls.lock_message(conn, reply.chat_id, reply.reply_to_message_id)
    target = await coldcalls.find_target(conn, reply.chat_id, reply.reply_to_message_id)
    if target is not None and target.cohort_id != cohort.id:
        return None
    if target is None and not may_wait(cohort):
        return None
    staff = is_admin or await tutors.is_course_tutor(conn, user_id, cohort.course_id)
    if not staff and await cohorts.member_status(conn, cohort.id, user_id) != "active":
        # told how to join when they answered one of ours, not for any reply at all
        return ReplyOutcome(cohort, outsider=target is not None)
    if target is None:
        await coldcalls.wait_for_parent(
            conn, cohort_id=cohort.id, user_id=user_id, is_tutor=staff, body=reply.body,
            chat_id=reply.chat_id, telegram_message_id=reply.telegram_message_id,
            reply_to_message_id=reply.reply_to_message_id, at=at)
        return ReplyOutcome(cohort, outsider=False)
    recorded = await coldcalls.record_reply(
        conn, target, user_id=user_id, is_tutor=staff, body=reply.body,
        chat_id=reply.chat_id, telegram_message_id=reply.telegram_message_id,
    )
    if recorded.created:  # else whoever recorded it logged it and linked its waiting replies
        if not staff:
            await _log_answer(conn, user_id, recorded, cohort,
                              threaded=target.kind == "message", at=at)
        await link_waiting(conn, reply.chat_id, reply.telegram_message_id, cohort)
    return ReplyOutcome(cohort, outsider=False)


async def link_waiting(conn: asyncpg.Connection, chat_id: int, telegram_message_id: int,
                       cohort: Cohort) -> None:
    """The replies that arrived before this message (a reply, or a prompt post just
    confirmed) are recorded now, with the effects a reply has (a learner's answer is logged
    once: it was not when it started waiting)."""
    require_tx(conn)
    for linked in await coldcalls.link_waiting(conn, chat_id, telegram_message_id):
        if not linked.is_tutor:
            await _log_answer(conn, linked.user_id, linked.recorded, cohort,
                              threaded=linked.threaded, at=linked.replied_at)


async def _log_answer(conn: asyncpg.Connection, user_id: uuid.UUID,
                      recorded: coldcalls.Recorded, cohort: Cohort, *, threaded: bool,
                      at: datetime) -> None:
    await activity.log(conn, user_id=user_id, course_id=recorded.course_id,
                       topic_id=recorded.topic_id, event_type="cold_call.reply",
                       payload={"cohort": cohort.name, "threaded": threaded}, at=at)
