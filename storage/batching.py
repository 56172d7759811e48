"""Group commit: requests that come in while one batch is on its way go out together."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Generic, TypeVar

import asyncpg

T = TypeVar("T")
R = TypeVar("R")

# PostgreSQL errors that say the server or the connection went away, not that it refused
# one statement: running the statements again on that connection would only fail again.
SERVER_GONE = (asyncpg.PostgresConnectionError, asyncpg.AdminShutdownError,
               asyncpg.CrashShutdownError)


class GroupCommit(Generic[T, R]):
    """Requests that come in while one batch is on its way go out together in the next: one
    round trip for many updates instead of one each. Alone, a request waits for just its own
    batch of one, as a statement of its own did; with one batch in flight at a time, the
    batches grow with the load.

    `run` gets a batch's requests and returns one result for each, in order: an exception
    for a request that failed alone; an exception `run` raises fails the whole batch. A
    waiter that is cancelled leaves its request in the batch: the others still get theirs.

    `lanes` batches may be on their way at once (each on its own connection): a statement
    whose server time is long would otherwise run on one of PostgreSQL's cores only."""

    def __init__(self, lanes: int = 1) -> None:
        self._next: list[tuple[T, asyncio.Future[R]]] = []
        self._flushers: set[asyncio.Task[None]] = set()
        self.lanes = lanes
        self.batches = 0  # batches sent (tests check that concurrent requests were grouped)

    async def run(self, batch: list[T]) -> Sequence[R | Exception]:
        raise NotImplementedError

    async def submit(self, request: T) -> R:
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._next.append((request, done))
        if len(self._flushers) < self.lanes:
            self._flushers.add(asyncio.create_task(self._flush()))
        # A waiter that is cancelled cancels its own future only: the batch goes on without
        # it (its statement may still run: an arrival or a record that nobody waits for).
        return await done

    async def _flush(self) -> None:
        try:
            while self._next:
                batch, self._next = self._next, []
                self.batches += 1
                results: Sequence[R | Exception]
                try:
                    results = await self.run([request for request, _ in batch])
                    if len(results) != len(batch):
                        raise RuntimeError(f"{len(results)} results for {len(batch)} requests")
                except asyncio.CancelledError:
                    for _, done in batch:
                        done.cancel()
                    raise
                except Exception as exc:  # handed to every waiter of the batch
                    results = [exc] * len(batch)
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
