"""Typed-prompt quota per learner, course and module (`module_prompt_usage`).

Spending is ONE statement: the upsert only increments while `used` is under the course's
`prompt_quota`, so any number of concurrent questions spend exactly the quota and no more —
the row lock taken by ON CONFLICT serializes them, and each re-checks the bound it sees.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class QuotaState:
    spent: bool  # this call used one typed prompt
    used: int
    quota: int

    @property
    def left(self) -> int:
        return max(0, self.quota - self.used)


_SPEND_SQL = """
INSERT INTO module_prompt_usage AS u (user_id, course_id, module_no, used)
SELECT $1, c.id, $3, 1 FROM courses c WHERE c.id = $2 AND c.prompt_quota > 0
ON CONFLICT (user_id, course_id, module_no) DO UPDATE SET used = u.used + 1
    WHERE u.used < (SELECT c.prompt_quota FROM courses c WHERE c.id = u.course_id)
RETURNING u.used
"""


async def spend(
    conn: asyncpg.Connection, user_id: uuid.UUID, course_id: uuid.UUID, module_no: int
) -> QuotaState:
    used = await conn.fetchval(_SPEND_SQL, user_id, course_id, module_no)
    if used is not None:
        quota = await conn.fetchval("SELECT prompt_quota FROM courses WHERE id = $1", course_id)
        return QuotaState(True, used, quota)
    state = await status(conn, user_id, course_id, module_no)
    return QuotaState(False, state.used, state.quota)


async def refund(
    conn: asyncpg.Connection, user_id: uuid.UUID, course_id: uuid.UUID, module_no: int
) -> None:
    """Give a typed prompt back when the bot failed to answer it at all."""
    await conn.execute(
        """
        UPDATE module_prompt_usage SET used = used - 1
        WHERE user_id = $1 AND course_id = $2 AND module_no = $3 AND used > 0
        """,
        user_id, course_id, module_no,
    )


async def status(
    conn: asyncpg.Connection, user_id: uuid.UUID, course_id: uuid.UUID, module_no: int
) -> QuotaState:
    row = await conn.fetchrow(
        """
        SELECT c.prompt_quota AS quota, coalesce(u.used, 0) AS used
        FROM courses c
        LEFT JOIN module_prompt_usage u
               ON u.course_id = c.id AND u.user_id = $1 AND u.module_no = $3
        WHERE c.id = $2
        """,
        user_id, course_id, module_no,
    )
    return QuotaState(False, row["used"], row["quota"]) if row else QuotaState(False, 0, 0)
