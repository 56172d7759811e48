"""Group commit: requests that come in while one batch is on its way go out together."""

from __future__ import annotations

import asyncio
import copy
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import asyncpg

T = TypeVar("T")
R = TypeVar("R")

# At most this many requests per batch: a batch is one implicit transaction, and the rows its
# statements lock stay locked until its last statement is done.
MAX_BATCH = 128

# PostgreSQL errors that say the server or the connection went away, not that it refused
# one statement: running the statements again on that connection would only fail again.
SERVER_GONE = (asyncpg.PostgresConnectionError, asyncpg.AdminShutdownError,
               asyncpg.CrashShutdownError)
_CONNECTION_LOST = (*SERVER_GONE, asyncpg.InterfaceError, OSError)


def refused(conn: asyncpg.Connection, exc: asyncpg.PostgresError) -> bool:
    """Whether a failed batch's error is PostgreSQL refusing a statement, on a connection that
    still works: then its statements can run again one by one (`one_by_one`) so only the
    refused one fails. Otherwise the batch's error is every request's."""
    return not (conn.is_closed() or isinstance(exc, SERVER_GONE))


def each_its_own(exc: Exception, n: int) -> list[Exception]:
    """One error for `n` waiters, as `n` objects: an exception raised in several tasks at
    once would have its traceback and context rewritten by each of them. A copy keeps the
    type (the callers' `except` clauses), the message, the cause and the traceback."""
    if n <= 0:
        return []
    out: list[Exception] = [exc]
    for _ in range(n - 1):
        try:
            twin = copy.copy(exc)
        except Exception:  # an exception type that can't be copied: shared, as before
            twin = exc
        if twin is not exc:
            twin.__cause__, twin.__traceback__ = exc.__cause__, exc.__traceback__
        out.append(twin)
    return out


class GroupCommit(ABC, Generic[T, R]):
    """Requests that come in while one batch is on its way go out together in the next: one
    round trip for many updates instead of one each. Alone, a request waits for just its own
    batch of one, as a statement of its own did; with every lane busy, the batches grow with
    the load (up to `MAX_BATCH`).

    `run` gets a batch's requests and returns one result for each, in order: an exception
    for a request that failed alone; an exception `run` raises fails the whole batch. A
    waiter that is cancelled leaves its request in the batch: the others still get theirs
    (unless `drop_cancelled`: then a request whose waiter gave up before its batch went out
    is left out, for requests whose effects only make sense with what the waiter does next).

    `lanes` batches may be on their way at once (each on its own connection): a statement
    whose server time is long would otherwise run on one of PostgreSQL's cores only."""

    drop_cancelled = False

    def __init__(self, lanes: int = 1) -> None:
        self._next: list[tuple[T, asyncio.Future[R]]] = []
        self._flushers: set[asyncio.Task[None]] = set()
        self.lanes = lanes
        self.batches = 0  # batches sent (tests check that concurrent requests were grouped)

    @abstractmethod
    async def run(self, batch: list[T]) -> Sequence[R | Exception]: ...

    async def submit(self, request: T) -> R:
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._next.append((request, done))
        # A flusher cancelled before its first step never ran its `finally`: not a lane.
        self._flushers = {f for f in self._flushers if not f.done()}
        if len(self._flushers) < self.lanes:
            self._flushers.add(asyncio.create_task(self._flush()))
        # A waiter that is cancelled cancels its own future only: the batch goes on without
        # it (its statement may still run: an arrival or a record that nobody waits for).
        return await done

    async def _flush(self) -> None:
        try:
            while self._next:
                if self.drop_cancelled:
                    self._next = [(request, done) for request, done in self._next
                                  if not done.cancelled()]
                    if not self._next:
                        break
                batch, self._next = self._next[:MAX_BATCH], self._next[MAX_BATCH:]
                self.batches += 1
                results: Sequence[R | Exception]
                try:
                    results = await self.run([request for request, _ in batch])
                    if len(results) != len(batch):
                        raise RuntimeError(f"{len(results)} results for {len(batch)} requests")
                except BaseException as exc:
                    if not isinstance(exc, Exception):  # cancelled, or the process stopping
                        for _, done in batch:
                            done.cancel()
                        raise
                    results = each_its_own(exc, len(batch))  # every waiter of the batch
                for (_, done), result in zip(batch, results, strict=True):
                    if done.cancelled():  # its waiter gave up
                        continue
                    if isinstance(result, Exception):
                        done.set_exception(result)
                        done.exception()  # retrieved: a waiter gone meanwhile won't log it
                    else:
                        done.set_result(result)
        finally:
            # Out of the set before anyone else runs: a request that comes in next must
            # start a flusher of its own, not count on this one.
            self._flushers.discard(asyncio.current_task())  # type: ignore[arg-type]
            if not self._flushers:  # the loop is going away: nobody will flush these
                for _, done in self._next:
                    done.cancel()
                self._next = []


async def one_by_one(conn: asyncpg.Connection,
                     calls: Sequence[Callable[[], Awaitable[R]]]) -> list[R | Exception]:
    """A failed batch's statements again, each alone on `conn`: a statement PostgreSQL
    refuses fails its own request only. Once the connection is lost, the requests not yet
    run get that error; what ran before it stays theirs."""
    out: list[R | Exception] = []
    for call in calls:
        try:
            out.append(await call())
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            if conn.is_closed() or isinstance(exc, _CONNECTION_LOST):
                return out + each_its_own(exc, len(calls) - len(out))
            out.append(exc)
    return out
