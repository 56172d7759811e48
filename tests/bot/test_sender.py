"""The rate-limited sender on virtual time (clock and sleep injected, the pacer's too): limits
hold without waiting real seconds, and per-chat state stays bounded."""

from __future__ import annotations

import asyncio
import itertools

from bot.workers.sender import RateLimitedSender


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


async def test_global_and_per_chat_pacing_on_virtual_time() -> None:
    vt = VirtualTime()
    sender = RateLimitedSender(rate_per_second=10, chat_interval=1.0, clock=vt.clock,
                               sleep=vt.sleep)
    started: list[tuple[int, float]] = []

    def call(chat: int):
        async def go() -> int:
            started.append((chat, vt.now))
            return chat
        return go

    for chat in (1, 2, 3, 1, 1):
        await sender.send(chat, call(chat))
    times = [t for _, t in started]
    assert all(b - a >= 0.1 - 1e-9 for a, b in itertools.pairwise(times))
    ones = [t for c, t in started if c == 1]
    assert ones[1] - ones[0] >= 1.0 - 1e-9 and ones[2] - ones[1] >= 1.0 - 1e-9
    assert vt.now < 3  # virtual seconds; the test took none


async def test_per_chat_state_is_bounded() -> None:
    vt = VirtualTime()
    sender = RateLimitedSender(rate_per_second=1000, chat_interval=1.0, clock=vt.clock,
                               sleep=vt.sleep, max_chats=100)

    async def ok() -> bool:
        return True

    for chat in range(1, 1001):
        await sender.send(chat, ok)
        await sender.send(-chat, ok)  # groups too
    assert sender.tracked_chats() <= 2 * 101
    assert sender.stats.sent == 2000
