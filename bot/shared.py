"""One Telegram budget for every process of a bot, kept in Redis (`REDIS_URL`).

Telegram's limits are per bot token, not per process: with several `learnbot run` and
`learnbot deliver` processes, each keeping its own budget, N processes send N times too fast.
With Redis, all of them draw on the same state:

- the global send rate: a shared slot clock (one short Lua script: "the next free slot is
  max(now, next); next += interval"), so sends from all processes leave evenly spaced instead
  of in bursts — a moving window would let every process fire its share at the start of each
  second. A process takes a few slots per round trip (as many as it has sends waiting, none
  more than 50 ms ahead) and drops any it reaches late;
- a hard cap on actual sends: a moving window every process takes right before its request,
  so sends bunched by a stalled process still leave no second over the rate;
- a 429 pause: a key whose TTL is `retry_after`; the slot clock hands out no slot before it
  expires, so a 429 to one process stops all within the 50 ms horizon;
- 1 msg/s per chat, 20 msg/min per group and the per-user flood control: moving windows of
  the `limits` library (its Redis storage);
- in-flight update claims, so the same update posted to two bot processes is handled once
  (bot/middlewares/claims.py).

Redis going away is not fatal: every operation raises `SharedUnavailable` at once (and for
`RETRY_SECONDS` afterwards without trying), and the callers fall back to their in-process
limits — the sender at its share of the rate (the rate divided by the number of senders last
seen), so the fleet stays within the budget rather than N times over it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import time
import uuid
from typing import Any

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0  # after a failure, don't try Redis again for this long
ANNOUNCE_SECONDS = 5.0  # how often a sender says it is alive (the fallback share)
# Slots are handed out at most this far ahead: after a 429, whatever other processes already
# hold leaves within this time, nothing later.
HORIZON_MICROS = 50_000
# A slot its process only gets to this late (a stall) is dropped, not used: sending it then
# would crowd the slots of the other processes.
LATE_SECONDS = 0.02
# The most sends any one second may hold across all processes is `send_window`'s: 3% under
# the rate, a moving window of actual sends each process takes right before its
# request, so that requests delayed on their way still land inside the budget. The shared
# clock paces sends this much below the cap: late wake-ups bunch sends, which the window
# flattens, but on time the window never has to hold anyone back.
PACE_OF_CAP = 0.99

# KEYS: next-free-slot, pause. ARGV: interval (µs), slots wanted, horizon (µs). Hands out up
# to `wanted` consecutive slots, but none further ahead than the horizon (so a 429 finds few
# slots already given out) and none during a pause. Returns {slots granted, µs until the
# first} — with 0 granted, µs until asking again is worth it. Redis's clock decides, so
# processes on machines with skewed clocks still agree.
_SLOT_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local horizon = tonumber(ARGV[3])
local start = now
local pause = redis.call('PTTL', KEYS[2])
if pause > 0 then start = now + pause * 1000 end
local first = math.max(start, tonumber(redis.call('GET', KEYS[1]) or '0'))
local room = math.floor((now + horizon - first) / interval) + 1
local n = math.min(tonumber(ARGV[2]), room)
if n <= 0 then return {0, first - horizon - now} end
redis.call('SET', KEYS[1], string.format('%d', first + n * interval), 'PX',
           math.floor((first + n * interval - now) / 1000) + 1000)
return {n, first - now}
"""

# KEYS: pause. ARGV: ms. Lengthen the pause, never shorten it.
_PAUSE_LUA = """
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 1
"""

# KEYS: claim. ARGV: token. Delete only our own claim.
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def send_window(rate_per_second: float) -> tuple[int, int]:
    """The shared cap on actual sends, as (sends, per seconds): 3% under the rate, rounded
    down to whole sends. Rates under 10/s count over ten seconds, so that 0.5/s is not
    rounded to 1/s (nor 2/s to 1/s)."""
    seconds = 1 if rate_per_second >= 10 else 10
    return max(1, math.floor(rate_per_second * seconds * 0.97)), seconds


def paced_interval(rate_per_second: float) -> float:
    """Seconds between the shared clock's slots: 1% below the cap."""
    sends, seconds = send_window(rate_per_second)
    return seconds / (sends * PACE_OF_CAP)


class SharedUnavailable(Exception):
    """Redis can't be used right now; use the in-process limits."""


class SharedLimits:
    """The Redis side of the shared budget. Every method raises `SharedUnavailable` rather
    than a Redis error; `available()` says whether trying is worth it."""

    def __init__(self, url: str, *, prefix: str, name: str | None = None) -> None:
        import redis.asyncio
        from limits.aio.storage import RedisStorage
        from limits.aio.strategies import MovingWindowRateLimiter

        self.prefix = prefix
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        # Short timeouts: a Redis that hangs must not hold a send (or an update) for long.
        self.redis = redis.asyncio.Redis.from_url(
            url, socket_timeout=2.0, socket_connect_timeout=3.0, decode_responses=True)
        self._errors: tuple[type[BaseException], ...] = (
            redis.exceptions.RedisError, OSError, TimeoutError)
        storage = RedisStorage(f"async+{url}", implementation="redispy", key_prefix=prefix,
                               wrap_exceptions=True, connection_pool=self.redis.connection_pool)
        self.windows = MovingWindowRateLimiter(storage)
        from limits.errors import StorageError

        self._errors = (*self._errors, StorageError)
        self._slot = self.redis.register_script(_SLOT_LUA)
        self._pause = self.redis.register_script(_PAUSE_LUA)
        self._release = self.redis.register_script(_RELEASE_LUA)
        self._retry_at = 0.0
        self._down = False
        self._announced = float("-inf")
        self.senders = 1  # live senders last seen (this one included)

    def key(self, *parts: object) -> str:
        return ":".join([self.prefix, *map(str, parts)])

    def available(self) -> bool:
        return not self._down or time.monotonic() >= self._retry_at

    async def _run(self, what: str, op: Any) -> Any:
        if not self.available():
            op.close()  # a coroutine never awaited: Redis is skipped for now
            raise SharedUnavailable(what)
        try:
            result = await op
        except self._errors as exc:
            if not self._down:
                log.warning("Redis unreachable (%s: %s): falling back to per-process limits",
                            type(exc).__name__, exc)
            self._down = True
            self._retry_at = time.monotonic() + RETRY_SECONDS
            raise SharedUnavailable(what) from exc
        if self._down:
            self._down = False
            log.warning("Redis reachable again: the send budget is shared again")
        return result

    # -- the global rate and the 429 pause ------------------------------------------------

    async def reserve(self, rate_per_second: float, wanted: int) -> tuple[int, float, float]:
        """Up to `wanted` consecutive global send slots for this process: (how many, seconds
        until the first, seconds between them). (0, wait, …): none free within the
        horizon (a pause, or every near slot taken); ask again after `wait`."""
        if time.monotonic() - self._announced >= ANNOUNCE_SECONDS:
            await self._announce()
        interval = max(1, round(1_000_000 * paced_interval(rate_per_second)))
        n, micros = await self._run("reserve", self._slot(
            keys=[self.key("send", "next"), self.key("send", "pause")],
            args=[interval, max(1, wanted), HORIZON_MICROS]))
        return int(n), max(0, int(micros)) / 1_000_000, interval / 1_000_000

    async def paused_for(self) -> float:
        """Seconds left of a 429 pause any process was given (0: none)."""
        ms = await self._run("pause check", self.redis.pttl(self.key("send", "pause")))
        return max(0, int(ms)) / 1000

    async def pause(self, seconds: float) -> None:
        await self._run("pause", self._pause(keys=[self.key("send", "pause")],
                                             args=[max(1, math.ceil(seconds * 1000))]))

    async def _announce(self) -> None:
        """Say this sender is alive and count those that are: a sender that loses Redis
        keeps to 1/senders of the rate."""
        self._announced = time.monotonic()
        key = self.key("send", "senders")
        now = time.time()
        pipe = self.redis.pipeline(transaction=True)
        pipe.zadd(key, {self.name: now})
        pipe.zremrangebyscore(key, "-inf", now - 3 * ANNOUNCE_SECONDS)
        pipe.zcard(key)
        pipe.expire(key, int(6 * ANNOUNCE_SECONDS))
        results = await self._run("announce", pipe.execute())
        self.senders = max(1, int(results[2]))

    # -- moving windows (per chat, per group, per user) ------------------------------------

    async def hit(self, item: Any, *identifiers: object) -> float:
        """Take one entry of `item`'s moving window: 0.0 if taken, else seconds to wait."""
        ids = [str(i) for i in identifiers]
        if await self._run("window", self.windows.hit(item, *ids)):
            return 0.0
        stats = await self._run("window stats", self.windows.get_window_stats(item, *ids))
        return max(0.01, stats.reset_time - time.time())

    # -- in-flight update claims -------------------------------------------------------------

    async def claim(self, key: str, token: str, ttl_seconds: float) -> bool:
        return bool(await self._run("claim", self.redis.set(
            key, token, nx=True, px=int(ttl_seconds * 1000))))

    async def release(self, key: str, token: str) -> None:
        await self._run("release", self._release(keys=[key], args=[token]))

    async def close(self) -> None:
        with contextlib.suppress(*self._errors):
            await self.redis.aclose()


def shared_limits(settings: Any) -> SharedLimits | None:
    """The shared budget when `REDIS_URL` is set (keys named after the bot's id, so two bots
    on one Redis keep two budgets), else None: every process keeps its own."""
    if not settings.redis_url:
        return None
    token = settings.bot_token.get_secret_value() if settings.bot_token else "1:console"
    bot_id = token.split(":", 1)[0]
    return SharedLimits(settings.redis_url, prefix=f"{settings.redis_key_prefix}:{bot_id}")
