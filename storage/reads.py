"""Autocommit reads grouped across the updates in flight.

On this kind of machine a round trip to PostgreSQL costs the bot about as much CPU as
aiogram's whole handling of an update (bench/updates.py), so the reads every learner command
makes (/help's page, /badges, /progress) are shared: concurrent calls of one statement go
out together, pipelined on one connection (`fetchmany`), one round trip for all of them.
Alone, a call is its own plain statement, as before.

A storage function reads through a `Reader` (an asyncpg connection is one; so is `Reads`),
so the same function serves a handler's grouped read and a unit of work's connection:

    text = await pages.get(db.reads, "help")
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import asyncpg

from storage.batching import GroupCommit, one_by_one, refused

if TYPE_CHECKING:
    from storage.uow import Database

log = logging.getLogger(__name__)

# The wrapper's own faults (a statement that is no plain SELECT, a column name used twice):
# no call of such a statement can be grouped.
_UNGROUPABLE = (asyncpg.PostgresSyntaxError, asyncpg.AmbiguousColumnError,
                asyncpg.FeatureNotSupportedError)

# Statements are the storage functions' constant SQL, so their number is bounded by the code;
# the cap only keeps a caller that builds SQL per call from growing the map without end.
MAX_STATEMENTS = 512
# Groups of one statement on their way at once: the reads of /progress take PostgreSQL more
# time than the bot takes to send them, and one group runs on one server process.
READ_LANES = 2


class Reader(Protocol):
    """What a read-only storage function needs: asyncpg's three fetches."""

    async def fetch(self, query: str, *args: Any) -> list[Any]: ...

    async def fetchrow(self, query: str, *args: Any) -> Any: ...

    async def fetchval(self, query: str, *args: Any, column: int = 0) -> Any: ...


class Row:
    """A row of a grouped read, without the column that said which call it belongs to: it
    reads like an asyncpg Record (by name or position, `get`, `keys`, `dict(row)`)."""

    __slots__ = ("_names", "_values")

    def __init__(self, record: asyncpg.Record) -> None:
        self._names: tuple[str, ...] = tuple(record.keys())[:-1]
        self._values: tuple[Any, ...] = tuple(record.values())[:-1]

    def __getitem__(self, key: str | int) -> Any:
        if isinstance(key, int):
            return self._values[key]
        try:
            return self._values[self._names.index(key)]
        except ValueError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        return self._values[self._names.index(key)] if key in self._names else default

    def keys(self) -> tuple[str, ...]:
        return self._names

    def values(self) -> tuple[Any, ...]:
        return self._values

    def items(self) -> Iterator[tuple[str, Any]]:
        return zip(self._names, self._values, strict=True)

    def __iter__(self) -> Iterator[Any]:  # as a Record: its values
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._names

    def __repr__(self) -> str:
        return f"<Row {' '.join(f'{k}={v!r}' for k, v in self.items())}>"


class Reads:
    """`Reader` over the pool whose calls of one statement are grouped (module docstring).

    Only for autocommit reads: a group runs as one implicit transaction, in which every
    statement still sees what committed before it (READ COMMITTED)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._statements: dict[str, _Statement] = {}
        self._first_rows: dict[str, _Statement] = {}  # the groups of `fetchrow`

    def _group(self, query: str, *, one_row: bool = False) -> _Statement:
        groups = self._first_rows if one_row else self._statements
        group = groups.get(query)
        if group is None:
            if len(groups) >= MAX_STATEMENTS:
                groups.clear()  # in-flight groups finish: their callers hold them
            group = groups[query] = _Statement(self.db, query, one_row=one_row)
        return group

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        return await self._group(query).submit(args)

    async def fetchrow(self, query: str, *args: Any) -> Any:
        rows = await self._group(query, one_row=True).submit(args)
        return rows[0] if rows else None

    async def fetchval(self, query: str, *args: Any, column: int = 0) -> Any:
        row = await self.fetchrow(query, *args)
        return None if row is None else row[column]


class _Statement(GroupCommit[tuple[Any, ...], list[Any]]):
    """The calls of one statement (a `GroupCommit` of argument tuples → their rows)."""

    def __init__(self, db: Database, query: str, *, one_row: bool = False) -> None:
        super().__init__(lanes=READ_LANES)
        self.db = db
        self.query = query
        # Only the first row of each call (`fetchrow`): the server stops there, instead of
        # sending every other row to be dropped here.
        self.one_row = one_row
        # Each row says which call it answers. PostgreSQL doesn't flatten a subquery that has
        # an ORDER BY, so a plain SELECT over it keeps the statement's order (how the planner
        # behaves, not a guarantee of SQL; tests/storage/test_reads.py holds it to it).
        self._body = query.rstrip().rstrip(";")
        if one_row:
            self._body = f"SELECT * FROM (\n{self._body}\n) AS first_row LIMIT 1"
        self._grouped: str | None = None
        self.groupable = True

    async def run(self, batch: list[tuple[Any, ...]]) -> Sequence[list[Any] | Exception]:
        async with self.db.read() as conn:
            if len(batch) == 1:
                return [await self._fetch(conn, *batch[0])]
            if not self.groupable:
                return await one_by_one(conn, self._alone(conn, batch))
            if self._grouped is None:  # the call's index follows the statement's own arguments
                self._grouped = (f"SELECT q.*, ${len(batch[0]) + 1}::int AS batch_call "
                                 f"FROM (\n{self._body}\n) AS q")
            try:
                rows = await conn.fetchmany(self._grouped,
                                            [(*args, i) for i, args in enumerate(batch)])
            except asyncpg.PostgresError as exc:
                if not refused(conn, exc):
                    raise
                if isinstance(exc, _UNGROUPABLE):  # the wrapper, not a call, is at fault
                    log.warning("statement can't be grouped (%s), runs call by call: %s",
                                exc, self.query[:200])
                    self.groupable = False
                # One call's statement failed and took the group with it: each alone, so
                # only that caller gets its error.
                return await one_by_one(conn, self._alone(conn, batch))
        out: list[list[Any] | Exception] = [[] for _ in batch]
        for record in rows:
            out[record[-1]].append(Row(record))  # type: ignore[union-attr]
        return out

    def _alone(self, conn: asyncpg.Connection, batch: list[tuple[Any, ...]]
               ) -> list[Callable[[], Awaitable[list[Any]]]]:
        return [functools.partial(self._fetch, conn, *args) for args in batch]

    async def _fetch(self, conn: asyncpg.Connection, *args: Any) -> list[Any]:
        """One call as a statement of its own (asyncpg's `fetchrow` asks for one row only)."""
        if self.one_row:
            row = await conn.fetchrow(self.query, *args)
            return [] if row is None else [row]
        return await conn.fetch(self.query, *args)
