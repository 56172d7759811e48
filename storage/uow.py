"""Units of work: the one visible place a use case opens its transaction.

    async with db.tx() as conn:      # acquire (bounded wait) → BEGIN
        ...storage calls...          # every storage function takes `conn`, none picks the tx
    # COMMIT and release, *then* talk to Telegram, the LLM, the sender or the embedder

A connection is never held across an outside wait: with ten slow LLM answers in flight, the
pool is still free for everyone else. When the pool stays exhausted past `acquire_timeout`,
`DatabaseBusy` is raised and the caller tells the learner to try again in a moment; nothing
half-done is left behind (the transaction never began).

`UpdateWork` is the per-update flavour the bot's middleware hands to handlers: its first
transaction also records the update id (`processed_updates`), so the de-duplication record
commits together with the update's first effects. A crash or a failed handler before that
commit leaves the update unrecorded and its redelivery is handled again; a redelivery of an
update whose effects did commit finds the record and is dropped.

Two per-update statements are group commits shared by the updates in flight: the first
round trip (`Arrivals`: repeat check and sender upsert) and the record of an update that
changed nothing (`Records`). Alone, an update waits for its own statement; under load, the
updates that come in while one batch is on its way share the next.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

import asyncpg

from storage import updates, users
from storage.batching import GroupCommit, one_by_one, refused
from storage.reads import Reader, Reads

ACQUIRE_TIMEOUT_SECONDS = 5.0


class DatabaseBusy(RuntimeError):
    """Every pooled connection stayed in use past the acquire timeout."""


class AlreadyHandled(RuntimeError):
    """This update's effects were committed before (a redelivery or a concurrent twin)."""


class RolledBack(RuntimeError):
    """A unit of work whose transaction a failed statement aborted: nothing of it committed."""


class Transactor(Protocol):
    """What use cases need: short transactions and short autocommit reads."""

    def tx(self) -> AbstractAsyncContextManager[asyncpg.Connection]: ...

    def read(self) -> AbstractAsyncContextManager[asyncpg.Connection]: ...

    @property
    def reads(self) -> Reader: ...

    async def recording(self, query: str, *args: Any) -> list[asyncpg.Record]: ...


class Database:
    """A pool with a bounded wait for a connection."""

    def __init__(self, pool: asyncpg.Pool, *,
                 acquire_timeout: float = ACQUIRE_TIMEOUT_SECONDS) -> None:
        self.pool = pool
        self.acquire_timeout = acquire_timeout
        self.records = Records(self)
        self.arrivals = Arrivals(self)
        self.reads = Reads(self)
        self.recordings = RecordingGroups(self)

    @property
    def base(self) -> Database:
        """Units of work that belong to no update (work an update starts in the background)."""
        return Database(self.pool, acquire_timeout=self.acquire_timeout)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection for autocommit statements (reads, single idempotent writes)."""
        try:
            conn = await self.pool.acquire(timeout=self.acquire_timeout)
        except TimeoutError:
            raise DatabaseBusy("no database connection free") from None
        try:
            yield conn
        finally:
            await self.pool.release(conn)

    @asynccontextmanager
    async def tx(self, isolation: str = "read_committed") -> AsyncIterator[asyncpg.Connection]:
        async with self.read() as conn, conn.transaction(isolation=isolation):
            yield conn

    async def recording(self, query: str, *args: Any) -> list[asyncpg.Record]:
        """A use case as one statement, its own transaction, shared with the other updates'
        calls of it (`Recordings`): one round trip where `tx()` takes three (BEGIN, the
        statement, COMMIT), and one execution for all the calls that come in together. A
        call is `args`, then the update's record (bot and update id; NULLs here, where
        there is no update); `query` takes each of them as an array over the calls, then
        the calls' numbers, and returns each call's rows with its number (`_call`); a
        call's first row's `_recorded` says whether it recorded the update."""
        return await self.recordings[query].submit((*args, None, None))


class Records(GroupCommit[tuple[int, int], None]):
    """Group commit for the records of updates that changed nothing (/help, /progress):
    each `add` returns once its record is committed, as a statement of its own did.

    A batch that fails fails every update in it (each then answers as for database
    trouble, and stays unrecorded, so its redelivery is handled again)."""

    def __init__(self, db: Database) -> None:
        super().__init__()
        self.db = db

    async def add(self, bot_id: int, update_id: int) -> None:
        await self.submit((bot_id, update_id))

    async def run(self, batch: list[tuple[int, int]]) -> Sequence[None]:
        async with self.db.read() as conn:
            await updates.record_many(conn, batch)
        return [None] * len(batch)


Arrived = tuple[bool, users.User | None]


class Arrivals(GroupCommit[tuple[int, dict[str, Any]], Arrived]):
    """Each update's first round trip (`users.arrive`: its repeat check and its sender's
    upsert) grouped across the updates that come in together: a batch's statements are
    pipelined on one connection (`users.arrive_many`), one round trip for all of them.

    A batch's statements are one implicit transaction: when one fails, all roll back. The
    batch then runs again, each statement alone on the same connection, so only the update
    whose own statement fails gets the error; the others get their rows. That rerun is
    sound because the failed batch left nothing behind, and `arrive` decides from the
    database alone (a rerun is an arrival like the first). It also settles a deadlock with
    another transaction: alone, a statement holds its own sender's row only. A failure that is
    not PostgreSQL refusing a statement (no free connection, the connection lost) fails
    every update of the batch: each answers as for database trouble and stays unrecorded.

    Two batches may be on their way at once: one that waits for a learner's row another
    transaction holds doesn't hold up every update behind it. Both lock senders' rows in the
    same order, so they can't deadlock each other (they can both wait on one that holds a
    row the other needs, as any two transactions can)."""

    def __init__(self, db: Database) -> None:
        super().__init__(lanes=2)
        self.db = db

    async def run(self, batch: list[tuple[int, dict[str, Any]]]) -> Sequence[Arrived | Exception]:
        async with self.db.read() as conn:
            if len(batch) == 1:
                telegram_id, fields = batch[0]
                return [await users.arrive(conn, telegram_id, **fields)]
            # By sender: batches of other processes lock users' rows in the same order, so
            # they queue behind each other instead of deadlocking. The sort is stable: one
            # sender's updates keep their order, the later one sees what the first wrote.
            order = sorted(range(len(batch)), key=lambda i: batch[i][0])
            try:
                rows = await users.arrive_many(
                    conn, [users.arrival(batch[i][0], **batch[i][1]) for i in order])
            except asyncpg.PostgresError as exc:
                if not refused(conn, exc):
                    raise
                return await one_by_one(conn, [
                    functools.partial(users.arrive, conn, telegram_id, **fields)
                    for telegram_id, fields in batch])
        found = dict(zip(order, rows, strict=True))
        return [found[i] for i in range(len(batch))]


class Recordings(GroupCommit[tuple[Any, ...], list[asyncpg.Record]]):
    """The calls of one `recording` statement that come in together, as one statement: it
    takes one array per parameter over the batch's calls, the calls' numbers last, and
    returns each call's rows with its number (`_call`). A set of calls is one execution, not
    one per call: the statement's start-up cost, as large as its work for a call, is paid
    once a batch.

    When PostgreSQL refuses the statement (a deadlock with another transaction included),
    each call runs again alone, so only the call at fault gets the error. The rerun is sound:
    the failed statement left nothing behind, and a call that recorded its update before
    finds the record. As with `Arrivals`, a call that waits for a row another transaction
    holds holds up its whole batch; two batches may be on their way at once.

    A call whose waiter gave up (a handler cancelled at shutdown) before its batch went out
    is left out: its update stays unrecorded, so its redelivery is answered."""

    drop_cancelled = True

    def __init__(self, db: Database, query: str) -> None:
        super().__init__(lanes=2)
        self.db = db
        self.query = query

    async def run(self, batch: list[tuple[Any, ...]]) -> Sequence[list[asyncpg.Record] | Exception]:
        async with self.db.read() as conn:
            if len(batch) == 1:
                return [await self._fetch(conn, [(*batch[0], 0)])]
            try:
                rows = await self._fetch(conn, [(*args, i) for i, args in enumerate(batch)])
            except asyncpg.PostgresError as exc:
                if not refused(conn, exc):
                    raise
                return await one_by_one(conn, [functools.partial(self._fetch, conn, [(*args, 0)])
                                               for args in batch])
        out: list[list[asyncpg.Record]] = [[] for _ in batch]
        for row in rows:
            out[row["_call"]].append(row)
        return out

    async def _fetch(self, conn: asyncpg.Connection, calls: list[tuple[Any, ...]]
                     ) -> list[asyncpg.Record]:
        return await conn.fetch(self.query, *(list(column) for column in zip(*calls, strict=True)))


class RecordingGroups(dict[str, Recordings]):
    """A database's `Recordings`, one per statement (the storage functions' constant SQL, so
    a handful), made on first use; shared by every update's `UpdateWork`."""

    def __init__(self, db: Database) -> None:
        super().__init__()
        self.db = db

    def __missing__(self, query: str) -> Recordings:
        group = self[query] = Recordings(self.db, query)
        return group


# asyncpg's isolation names, and the BEGIN asyncpg itself sends for each.
_BEGIN = {
    "read_committed": "BEGIN ISOLATION LEVEL READ COMMITTED",
    "repeatable_read": "BEGIN ISOLATION LEVEL REPEATABLE READ",
    "serializable": "BEGIN ISOLATION LEVEL SERIALIZABLE",
}


async def _roll_back(conn: asyncpg.Connection) -> None:
    """End a failed unit of work; when the connection itself broke, the pool's release
    terminates it (nothing was committed either way)."""
    if conn.is_closed() or not conn.is_in_transaction():
        return
    try:
        await conn.execute("ROLLBACK")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        conn.terminate()


class UpdateWork(Database):
    """The units of work of one Telegram update (see the module docstring)."""

    def __init__(self, db: Database, bot_id: int, update_id: int) -> None:
        # Not Database.__init__: every update of the bot shares the bot's group commits.
        self.pool = db.pool
        self.acquire_timeout = db.acquire_timeout
        self.records = db.records
        self.arrivals = db.arrivals
        self.reads = db.reads
        self.recordings = db.recordings
        self.bot_id = bot_id
        self.update_id = update_id
        self.recorded = False

    @asynccontextmanager
    async def tx(self, isolation: str = "read_committed") -> AsyncIterator[asyncpg.Connection]:
        if self.recorded:  # a later unit of the same update: a plain transaction
            async with super().tx(isolation) as conn:
                yield conn
            return
        async with self.read() as conn:
            # BEGIN and the update's record in one message, one round trip instead of two
            # (asyncpg's `conn.transaction()` sends its BEGIN alone). Nothing inside a unit of
            # work opens a savepoint (tests/storage/test_no_inner_transactions.py), so asyncpg
            # needn't know; `conn.is_in_transaction()` (`pg.require_tx`) still sees it. A
            # concurrent twin of this update blocks here on the primary key until the other
            # commits, then finds it: effects can't happen twice.
            record = updates.first_time_statement(self.bot_id, self.update_id)
            try:
                if not (await conn.execute(f"{_BEGIN[isolation]}; {record}")).endswith(" 1"):
                    raise AlreadyHandled(self.update_id)
                yield conn
            except BaseException:
                await _roll_back(conn)
                raise
            status = await conn.execute("COMMIT")
        if status != "COMMIT":
            # A statement failed and the caller went on: PostgreSQL rolled everything back.
            # Saying so keeps the update unrecorded (`record()` must not mark as handled an
            # update whose effects are gone), so its redelivery is handled again.
            raise RolledBack(self.update_id)
        self.recorded = True

    async def recording(self, query: str, *args: Any) -> list[asyncpg.Record]:
        """As `Database.recording`, with this update's record while it has none yet."""
        record = (None, None) if self.recorded else (self.bot_id, self.update_id)
        rows = await self.recordings[query].submit((*args, *record))
        if rows and rows[0]["_recorded"]:
            self.recorded = True
        return rows

    async def record(self) -> None:
        """For an update that changed nothing: remember it was handled (its reply went out)."""
        if not self.recorded:
            await self.records.add(self.bot_id, self.update_id)
            self.recorded = True

    async def arrive(self, telegram_id: int, **user: Any) -> tuple[bool, users.User | None]:
        """`seen()` and the sender's upsert in one round trip (see `users.arrive`), shared
        with the updates arriving together (`Arrivals`): (True, None) for an update already
        handled, else (False, the sender)."""
        return await self.arrivals.submit(
            (telegram_id, {**user, "bot_id": self.bot_id, "update_id": self.update_id}))

    async def seen(self) -> bool:
        async with self.read() as conn:
            return await updates.seen(conn, self.bot_id, self.update_id)
