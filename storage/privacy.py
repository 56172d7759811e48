"""A learner's own data: everything that names them, found through the schema's own foreign
keys (so a table added later is covered without touching this file), and their erasure."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

# Every single-column foreign key to users(id), and one hop further (rows that belong to a
# row of theirs, e.g. a course-user's deliveries). Read from the catalog, not listed by hand.
_REFERENCES_SQL = """
SELECT c.conrelid::regclass::text AS tbl, a.attname AS col, c.confrelid::regclass::text AS target
FROM pg_constraint c
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
WHERE c.contype = 'f' AND array_length(c.conkey, 1) = 1 AND c.conrelid <> c.confrelid
ORDER BY 1, 2
"""


async def references(conn: asyncpg.Connection) -> list[tuple[str, str, str]]:
    return [(r["tbl"], r["col"], r["target"]) for r in await conn.fetch(_REFERENCES_SQL)]


async def export_user(conn: asyncpg.Connection, user_id: uuid.UUID) -> dict[str, Any]:
    """{table: [rows]} for the user's row, every row referencing it, and the rows referencing
    those (one hop), as JSON-ready values. Empty tables are left out."""
    refs = await references(conn)
    out: dict[str, Any] = {"users": await _rows(conn, "users", "id", [user_id])}
    owned: dict[str, list[Any]] = {}
    for tbl, col, target in refs:
        if target != "users":
            continue
        rows = await _rows(conn, tbl, col, [user_id])
        if rows:
            out.setdefault(tbl, []).extend(rows)
            owned[tbl] = [i for i in (_as_uuid(r.get("id")) for r in rows) if i is not None]
    for tbl, col, target in refs:
        ids = owned.get(target)
        if not ids or target == "users" or tbl in out:
            continue
        rows = await _rows(conn, tbl, col, ids)
        if rows:
            out[tbl] = rows
    return out


async def _rows(conn: asyncpg.Connection, tbl: str, col: str, ids: list[uuid.UUID]
                ) -> list[dict]:
    # tbl and col come from the catalog, never from input; quoting guards odd names anyway
    rows = await conn.fetchval(
        f"SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t::text), '[]'::jsonb) FROM {tbl} t "
        f"WHERE t.{_ident(col)} = ANY($1::uuid[])", ids)
    return list(rows)


def _as_uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def delete_user(conn: asyncpg.Connection, user_id: uuid.UUID) -> bool:
    """Erase the user; their rows go with them (ON DELETE CASCADE) and the rows others keep
    (a cohort roster's seat, a group answer) stop naming them (ON DELETE SET NULL). A seat's
    old invite link would let anyone re-bind it, so it gets a fresh code."""
    await conn.execute(
        "UPDATE cohort_members SET invite_code = replace(gen_random_uuid()::text, '-', ''), "
        "joined_at = NULL WHERE user_id = $1", user_id)
    return await conn.fetchval("DELETE FROM users WHERE id = $1 RETURNING true", user_id) is True
