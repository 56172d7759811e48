"""Supervised background work: every loop of `learnbot run` is a round run on a schedule.

Deliveries, quiz-retake nudges, broadcast resumption and pruning `processed_updates` are
each a `Loop`: an async round, and how often to run it. The supervisor runs each loop in its
own task, so one failing never stops another:

* a failing *item* is the round's business (the delivery worker logs it, backs that delivery
  off, and carries on with the others);
* a failing *round* is logged with its traceback once, and the loop runs again after an
  exponential backoff (1 s, 2 s, 4 s … capped at a minute) instead of its usual interval;
* a loop that keeps failing logs one ERROR line a minute while it does, and after
  `give_up_after` seconds without a good round the supervisor reports itself failed (the
  process exits 1 and its supervisor — systemd, Docker — restarts it);
* `TokenRevoked` (a 401) is never retried: it stops everything at once.

`stop` lets every loop finish the round it is in (in-flight sends complete) and returns.
Time is injectable (`clock`, `sleep`), so tests run on virtual time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.transports.guard import TokenRevoked

log = logging.getLogger(__name__)


@dataclass
class Loop:
    name: str
    round: Callable[[], Awaitable[Any]]
    every: float
    # state, for the supervisor and for tests
    failures: int = 0  # consecutive failed rounds
    failing_since: float | None = None
    last_alarm: float | None = None
    last_error: str | None = None
    rounds: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class Supervisor:
    def __init__(
        self,
        *,
        base_backoff: float = 1.0,
        max_backoff: float = 60.0,
        alarm_every: float = 60.0,
        give_up_after: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
    ) -> None:
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.alarm_every = alarm_every
        self.give_up_after = give_up_after
        self.clock = clock
        self._sleep = sleep
        self.loops: list[Loop] = []
        self.failed: str | None = None  # why the supervisor gave up (the process should exit 1)
        self._fatal = asyncio.Event()

    def add(self, name: str, round_: Callable[[], Awaitable[Any]], every: float) -> Loop:
        loop = Loop(name, round_, every)
        self.loops.append(loop)
        return loop

    def backoff(self, failures: int) -> float:
        return min(self.max_backoff, self.base_backoff * 2 ** max(0, failures - 1))

    async def run(self, stop: asyncio.Event) -> None:
        """Run every loop until `stop` is set (or one can't recover: see `failed`)."""
        tasks = [asyncio.create_task(self._run_loop(loop, stop), name=f"loop-{loop.name}")
                 for loop in self.loops]
        fatal = asyncio.create_task(self._fatal.wait())
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({fatal, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            fatal.cancel()
            stopping.cancel()
            stop.set()
            for loop in self.loops:
                loop.wake.set()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _pause(self, loop: Loop, seconds: float, stop: asyncio.Event) -> None:
        if self._sleep is not None:  # virtual time: no waking early
            await self._sleep(seconds)
            return
        loop.wake.clear()
        waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(loop.wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    async def _run_loop(self, loop: Loop, stop: asyncio.Event) -> None:
        log.info("%s loop started", loop.name)
        while not stop.is_set() and not self._fatal.is_set():
            try:
                await loop.round()
            except asyncio.CancelledError:
                raise
            except TokenRevoked as exc:
                self._give_up(f"{exc}")
                return
            except Exception as exc:
                self._failed(loop, exc)
                if self._fatal.is_set():
                    return
                await self._pause(loop, self.backoff(loop.failures), stop)
                continue
            finally:
                loop.rounds += 1
            if loop.failures:
                log.info("%s loop recovered after %s failed round(s)", loop.name, loop.failures)
            loop.failures, loop.failing_since, loop.last_alarm = 0, None, None
            await self._pause(loop, loop.every, stop)

    def _failed(self, loop: Loop, exc: Exception) -> None:
        now = self.clock()
        loop.failures += 1
        loop.last_error = f"{type(exc).__name__}: {exc}"
        if loop.failing_since is None:
            loop.failing_since = now
            log.warning("%s round failed; retrying in %.0fs", loop.name,
                        self.backoff(loop.failures), exc_info=exc)
        elif now - (loop.last_alarm or loop.failing_since) >= self.alarm_every:
            loop.last_alarm = now  # one ERROR line a minute while it keeps failing
            log.error("%s keeps failing: %s failed rounds over %.0fs; last: %s", loop.name,
                      loop.failures, now - loop.failing_since, loop.last_error)
        if self.give_up_after and now - loop.failing_since >= self.give_up_after:
            self._give_up(f"{loop.name} failed for {now - loop.failing_since:.0f}s without "
                          f"recovering ({loop.last_error})")

    def _give_up(self, reason: str) -> None:
        if self.failed is None:
            self.failed = reason
            log.error("giving up: %s", reason)
        self._fatal.set()

    def trip(self, reason: str) -> None:
        """Something outside the loops can't recover (a revoked token seen by the guard)."""
        self._give_up(reason)

    async def wait_failed(self) -> str:
        await self._fatal.wait()
        return self.failed or "stopped"


async def prune_updates_round(pool: Any, keep_hours: int = 48) -> int:
    """One pruning round: forget handled update ids older than `keep_hours`, and cold-call
    replies that waited an hour for a parent that never came (it was no message of ours)."""
    from storage import coldcalls, updates

    async with pool.acquire() as conn:
        removed = await updates.forget_older_than(conn, keep_hours)
        orphans = await coldcalls.forget_waiting_older_than(conn)
    if removed:
        log.info("pruned %s processed update ids older than %sh", removed, keep_hours)
    if orphans:
        log.info("forgot %s cold-call replies whose parent never came", orphans)
    return removed
