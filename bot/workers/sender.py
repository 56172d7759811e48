"""The rate-limited sender every bulk message goes through (deliveries, broadcasts, groups).

Telegram's limits: about 30 msg/s per bot (default 25 to keep headroom; up to 1000 with paid
broadcasts), 1 msg/s per private chat, 20 msg/min per group. A 429 pauses the *whole* sender
for `retry_after` — Telegram is saying the bot, not the chat, is too fast.

Those limits are per bot, so with `shared` (Redis, bot/shared.py) every process draws on one
budget and one 429 pause; without it, or while Redis is unreachable, this process keeps its
own (then at its share of the rate: the rate divided by the senders last seen in Redis).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)

if TYPE_CHECKING:
    from bot.shared import SharedLimits

log = logging.getLogger(__name__)
T = TypeVar("T")


async def _zero() -> float:
    return 0.0


class SendFailed(Exception):
    """The message could not be sent. `permanent` = retrying won't help; `blocked` = 403."""

    def __init__(self, reason: str, *, permanent: bool, blocked: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.blocked = blocked


@dataclass
class SenderStats:
    sent: int = 0
    retried_429: int = 0
    failed: int = 0
    paused_seconds: float = 0.0


class Pacer:
    """Starts calls at least `1/rate` apart, timed when they really start.

    The sender plans slots ahead; if the process stalls (a slow commit, a busy CPU), several
    planned slots fall due at once and would leave as a burst. Passing through here right
    before the HTTP request (after any `prepare` step) re-spaces them, so the rate holds at
    Telegram's end too. Waiters queue in order (asyncio.Lock is fair) and each sleeps at most
    one interval, unless `hold_until` (a 429 pause) says nothing may start yet: slots planned
    before Telegram asked us to wait must not fire during the wait."""

    def __init__(self, rate_per_second: float, clock: Callable[[], float] = time.monotonic,
                 hold_until: Callable[[], float] = lambda: 0.0,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self.interval = 1.0 / rate_per_second
        self.clock = clock
        self.hold_until = hold_until
        self.sleep = sleep  # injectable: tests run the pacer on virtual time
        self._last = float("-inf")
        self._lock = asyncio.Lock()

    async def wait(self, *, yield_to_hold: bool = False) -> bool:
        """True: go now. False (only with `yield_to_hold`): a 429 hold is in force; the caller
        steps back instead of waiting here."""
        async with self._lock:
            # A loop, not one sleep: a 429 arriving meanwhile moves the deadline.
            while (delay := max(self._last + self.interval,
                                self.hold_until()) - self.clock()) > 0:
                if yield_to_hold and self.hold_until() > self.clock():
                    return False
                await self.sleep(delay)
            self._last = self.clock()
            return True


class RateLimitedSender:
    def __init__(
        self,
        *,
        rate_per_second: float = 25.0,
        chat_interval: float = 1.0,
        group_per_minute: int = 20,
        max_429_retries: int = 10,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        max_chats: int = 100_000,
        shared: SharedLimits | None = None,
    ) -> None:
        self.rate = rate_per_second
        self.shared = shared
        self.interval = 1.0 / rate_per_second
        self.chat_interval = chat_interval
        self.group_per_minute = group_per_minute
        self.max_429_retries = max_429_retries
        self.clock = clock
        self.sleep = sleep
        self._next_slot = 0.0
        self._paused_until = 0.0
        # Per-chat state, bounded: an entry is only needed while it still limits something
        # (a chat's next slot in the future, a group's sends of the last minute); past
        # `max_chats` the expired ones go, then the least recently used.
        self.max_chats = max_chats
        if shared is not None:
            from limits import RateLimitItemPerMinute, RateLimitItemPerSecond

            # moving windows count whole seconds: a fractional interval rounds up (stricter)
            self._chat_item = RateLimitItemPerSecond(1, max(1, math.ceil(chat_interval)))
            self._group_item = RateLimitItemPerMinute(group_per_minute)
            from bot.shared import send_window

            self._send_item = RateLimitItemPerSecond(*send_window(rate_per_second))
        self._slots: deque[float] = deque()  # shared-clock slots held (monotonic times)
        self._slot_lock = asyncio.Lock()
        self._slot_waiters = 0
        self._chat_next: OrderedDict[int, float] = OrderedDict()
        self._group_sends: OrderedDict[int, deque[float]] = OrderedDict()
        self._lock = asyncio.Lock()
        self._pacer = Pacer(rate_per_second, clock, lambda: self._paused_until, sleep)
        self.stats = SenderStats()

    def _local_share(self) -> None:
        """Redis is unreachable: pace this process alone at its share of the budget."""
        assert self.shared is not None
        self.interval = self.shared.senders / self.rate
        self._pacer.interval = self.interval

    async def _reserve(self, chat_id: int) -> bool:
        """Wait for a send slot: the shared budget's (True) or, without Redis, this
        process's own (False)."""
        from bot.shared import SharedUnavailable

        shared = self.shared
        if shared is not None and shared.available():
            try:
                await self._shared_slot(shared, chat_id)
                return True
            except SharedUnavailable:
                self._local_share()
        await self._acquire(chat_id)
        return False

    async def _shared_slot(self, shared: SharedLimits, chat_id: int) -> None:
        """Take this process's next slot of the shared clock (fetched a few at a time, in
        arrival order), with the chat's and group's windows, and sleep until it.

        The windows are taken at the head of this process's queue, right before the slot
        (at most the 50 ms horizon ahead of it), so the gap between two sends to one chat is
        measured where it matters; a window that says "not yet" hands the slot to the next
        send in the queue. After the slot only the send window (`_admit`) and the request are
        left, and a slot reached too late (a stall) is dropped: sending then would crowd other
        processes' slots."""
        from bot.shared import LATE_SECONDS

        windows_taken = False
        while True:
            wait = 0.0
            self._slot_waiters += 1  # how many slots to fetch at once
            try:
                async with self._slot_lock:
                    slot = await self._next_shared_slot(shared)
                    if not windows_taken:
                        hits = [shared.hit(self._chat_item, "chat", chat_id)
                                if self.chat_interval > 0 else _zero()]
                        if chat_id < 0:
                            hits.append(shared.hit(self._group_item, "group", chat_id))
                        wait = max(await asyncio.gather(*hits))
                        if wait:
                            self._slots.appendleft(slot)  # the next send in line takes it
                        windows_taken = not wait
            finally:
                self._slot_waiters -= 1
            if wait:
                await asyncio.sleep(wait)
                continue
            delay = slot - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.monotonic() - slot <= LATE_SECONDS:
                return

    async def _next_shared_slot(self, shared: SharedLimits) -> float:
        """The earliest slot this process holds that isn't stale, fetching more as needed
        (as many as there are sends waiting, up to 32)."""
        from bot.shared import LATE_SECONDS

        while True:
            now = time.monotonic()
            while self._slots and (now - self._slots[0] > LATE_SECONDS
                                   or self._paused_until > self.clock()):
                self._slots.popleft()  # reached too late, or a 429 came since
            if self._slots:
                return self._slots.popleft()
            n, first, interval = await shared.reserve(self.rate, min(32, self._slot_waiters))
            base = time.monotonic() + first
            if n == 0:
                await asyncio.sleep(max(first, 0.001))
                continue
            self._slots.extend(base + i * interval for i in range(n))

    async def _go(self, shared: bool, *, yield_to_hold: bool) -> bool:
        """Right before the request: False if a 429 pause began meanwhile (the caller takes
        a new slot, after the pause, instead of sending into it). A pause another process
        was given stops this one through the slot clock (within its horizon)."""
        if not shared:
            return await self._pacer.wait(yield_to_hold=yield_to_hold)
        return await self._admit()

    async def _admit(self) -> bool:
        """The shared path's last gate: a moving window of every process's actual sends.

        The slot clock spaces sends evenly but can't see what happens after a slot is handed
        out: a process stalled on a busy CPU sends its slots late, bunched against other
        processes' on-time ones. The window counts sends as they leave, so whatever the
        stalls, no second holds more than `send_window` allows; the clock paces them 1%
        below that, so the window only bites on such bunches. A refused send waits for room
        rather than give its slot back (a dropped slot is budget lost for good: on a loaded
        machine that cost a tenth of the rate), and looks for a 429 pause another process
        was given meanwhile (False: start over after it). Its chat's window was taken when
        the slot came, so a send held here can leave less than a second before the chat's
        next one — by at most this wait, in a bunch, and only for a chat sent to twice in
        a row."""
        from bot.shared import SharedUnavailable

        assert self.shared is not None
        try:
            while self._paused_until <= self.clock():
                wait = await self.shared.hit(self._send_item, "send", "window")
                if not wait:
                    return True
                await asyncio.sleep(wait)
                if await self.shared.paused_for() > 0:
                    return False
        except SharedUnavailable:
            self._local_share()
            return True  # the slot was the shared clock's: send it, then pace locally
        return False

    async def _pause_all(self, retry_after: float) -> None:
        from bot.shared import SharedUnavailable

        if self.shared is not None:
            try:
                await self.shared.pause(retry_after)
            except SharedUnavailable:
                self._local_share()

    async def _acquire(self, chat_id: int) -> None:
        """Reserve a send slot honoring the global, per-chat and per-group limits."""
        while True:
            async with self._lock:
                now = self.clock()
                wait = max(0.0, self._paused_until - now)
                chat_ready = self._chat_next.get(chat_id, 0.0)
                wait = max(wait, chat_ready - now)
                if chat_id < 0:  # groups and channels
                    sends = self._group_sends.setdefault(chat_id, deque())
                    self._group_sends.move_to_end(chat_id)
                    while sends and now - sends[0] >= 60:
                        sends.popleft()
                    if len(sends) >= self.group_per_minute:
                        wait = max(wait, 60 - (now - sends[0]))
                if wait <= 0:
                    slot = max(now, self._next_slot)
                    self._next_slot = slot + self.interval
                    self._chat_next[chat_id] = slot + self.chat_interval
                    self._chat_next.move_to_end(chat_id)
                    if chat_id < 0:
                        self._group_sends[chat_id].append(slot)
                    self._bound(now)
                    delay = slot - now
                    break
            await self.sleep(wait)
        if delay > 0:
            await self.sleep(delay)

    def _bound(self, now: float) -> None:
        if len(self._chat_next) > self.max_chats:
            for c in [c for c, t in self._chat_next.items() if t <= now]:
                del self._chat_next[c]
            while len(self._chat_next) > self.max_chats:
                self._chat_next.popitem(last=False)
        if len(self._group_sends) > self.max_chats:
            for g in [g for g, q in self._group_sends.items() if not q or now - q[-1] >= 60]:
                del self._group_sends[g]
            while len(self._group_sends) > self.max_chats:
                self._group_sends.popitem(last=False)

    def tracked_chats(self) -> int:
        return len(self._chat_next) + len(self._group_sends)

    async def send(
        self, chat_id: int, call: Callable[[], Awaitable[T]], *,
        prepare: Callable[[], Awaitable[object]] | None = None,
        refused: Callable[[], Awaitable[object]] | None = None,
    ) -> T:
        """Run one Bot API call for `chat_id` under the limits; classify failures.

        `prepare` runs inside the send slot, before the final pacing (e.g. a broadcast commits
        "in flight" there), so however long it takes, the HTTP call still leaves on pace.
        Whatever it raises propagates to the caller. `refused` runs after a 429 (Telegram
        took nothing), before the pause: undo what `prepare` committed."""
        attempts = 0
        while attempts <= self.max_429_retries:
            shared = await self._reserve(chat_id)
            if prepare is not None:
                await prepare()
            # A 429 pause that began after `prepare`: don't sit through it "prepared" (a
            # broadcast row would look in flight the whole time); undo, wait, start over.
            if not await self._go(shared, yield_to_hold=refused is not None):
                if refused is not None:
                    await refused()
                continue
            attempts += 1
            try:
                result = await call()
            except TelegramRetryAfter as exc:
                self.stats.retried_429 += 1
                async with self._lock:
                    until = self.clock() + exc.retry_after
                    if until > self._paused_until:
                        self.stats.paused_seconds += until - max(self._paused_until, self.clock())
                        self._paused_until = until
                await self._pause_all(exc.retry_after)
                log.warning("429 from Telegram: pausing all sends for %ss", exc.retry_after)
                if refused is not None:
                    await refused()
                continue
            except TelegramForbiddenError as exc:
                self.stats.failed += 1
                raise SendFailed(str(exc), permanent=True, blocked=True) from exc
            except (TelegramBadRequest, TelegramNotFound) as exc:
                self.stats.failed += 1
                raise SendFailed(str(exc), permanent=True) from exc
            except (TimeoutError, TelegramNetworkError, TelegramServerError,
                    ClientDecodeError) as exc:
                # A garbled answer (ClientDecodeError) may hide a delivered message: callers
                # that must never repeat one treat it like a timeout (delivery unknown).
                self.stats.failed += 1
                raise SendFailed(str(exc) or type(exc).__name__, permanent=False) from exc
            except TelegramUnauthorizedError:
                raise  # the token is gone: nothing to classify, the process stops
            except TelegramAPIError as exc:  # conflicts, too large, …: retrying won't help
                self.stats.failed += 1
                raise SendFailed(str(exc), permanent=True) from exc
            self.stats.sent += 1
            return result
        self.stats.failed += 1
        raise SendFailed("rate limited too many times", permanent=False)
