"""Learner activity events: the append-only log that analytics (storage/stats.py) reads.

Event types are `<area>.<action>` (journey.sent, journey.opened, journey.done, cold_call.reply,
...); `topic_id` is set when the action concerns one topic, so per-topic analytics work."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg


async def log(
    conn: asyncpg.Connection,
    *,
    user_id: uuid.UUID,
    course_id: uuid.UUID,
    event_type: str,
    topic_id: uuid.UUID | None = None,
    payload: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    await conn.execute(
        """
        INSERT INTO learner_activity_events (user_id, course_id, topic_id, event_type, payload,
                                             created_at)
        VALUES ($1, $2, $3, $4, $5, coalesce($6, now()))
        """,
        user_id, course_id, topic_id, event_type, payload or {}, at,
    )
