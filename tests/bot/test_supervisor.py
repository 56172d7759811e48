"""The supervisor on virtual time: a failing loop is isolated and restarted with exponential
backoff, one that keeps failing logs an ERROR line a minute and eventually gives up, a 401
stops everything at once, and `stop` lets the round in progress finish."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest

from bot.transports.guard import TokenRevoked
from bot.workers.supervisor import Supervisor


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def supervisor(vt: VirtualTime, **kw) -> Supervisor:
    return Supervisor(clock=vt.clock, sleep=vt.sleep, **kw)


async def test_failing_round_restarts_with_backoff_and_others_keep_running() -> None:
    vt = VirtualTime()
    sup = supervisor(vt)
    stop = asyncio.Event()
    calls = {"flaky": 0, "steady": 0}
    flaky_pauses: list[float] = []

    async def flaky() -> None:
        calls["flaky"] += 1
        if calls["flaky"] <= 5:
            raise RuntimeError(f"boom {calls['flaky']}")

    async def steady() -> None:
        calls["steady"] += 1
        if calls["steady"] >= 40:
            stop.set()

    flaky_loop = sup.add("flaky", flaky, every=10)
    sup.add("steady", steady, every=10)
    original = sup._pause

    async def pause(loop, seconds, stop_):
        if loop is flaky_loop:
            flaky_pauses.append(seconds)
        await original(loop, seconds, stop_)

    sup._pause = pause  # type: ignore[method-assign]
    await asyncio.wait_for(sup.run(stop), 5)
    assert flaky_pauses[:6] == [1, 2, 4, 8, 16, 10]  # backoff, then the usual interval
    assert flaky_loop.failures == 0 and calls["flaky"] > 6  # recovered and kept going
    assert calls["steady"] >= 40  # never disturbed by the other loop's failures
    assert sup.failed is None


async def test_a_loop_that_keeps_failing_logs_an_error_every_minute_then_gives_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    vt = VirtualTime()
    sup = supervisor(vt, give_up_after=600)
    errors_at: list[float] = []

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR and "keeps failing" in record.getMessage():
                errors_at.append(vt.now)

    spy = Spy()
    logging.getLogger("bot.workers.supervisor").addHandler(spy)
    try:
        async def broken() -> None:
            raise ConnectionRefusedError("database is down")

        sup.add("delivery", broken, every=30)
        await asyncio.wait_for(sup.run(asyncio.Event()), 5)
    finally:
        logging.getLogger("bot.workers.supervisor").removeHandler(spy)
    assert sup.failed and "delivery" in sup.failed and "database is down" in sup.failed
    assert vt.now >= 600
    # about one line a minute, never two within a minute, the first after a minute
    assert 7 <= len(errors_at) <= 10, errors_at
    assert errors_at[0] >= 60
    assert all(b - a >= 60 for a, b in itertools.pairwise(errors_at))
    # the traceback is logged once (the first failure), not on every round
    tracebacks = [r for r in caplog.records if r.exc_info and "delivery" in r.getMessage()]
    assert len(tracebacks) == 1


async def test_a_revoked_token_stops_everything_at_once() -> None:
    vt = VirtualTime()
    sup = supervisor(vt)
    other_rounds = 0

    async def revoked() -> None:
        raise TokenRevoked("Telegram rejected the bot token (401 Unauthorized)")

    async def other() -> None:
        nonlocal other_rounds
        other_rounds += 1

    sup.add("delivery", revoked, every=30)
    sup.add("pruning", other, every=3600)
    await asyncio.wait_for(sup.run(asyncio.Event()), 5)
    assert sup.failed and "401" in sup.failed
    assert other_rounds <= 1


async def test_stop_lets_the_round_in_progress_finish() -> None:
    sup = Supervisor()  # real time: stop wakes the loops early
    stop = asyncio.Event()
    finished = asyncio.Event()
    started = asyncio.Event()

    async def slow_round() -> None:
        started.set()
        await asyncio.sleep(0.3)
        finished.set()

    sup.add("delivery", slow_round, every=3600)
    task = asyncio.create_task(sup.run(stop))
    await started.wait()
    stop.set()
    await asyncio.wait_for(task, 5)
    assert finished.is_set()  # not cancelled mid-round
    assert sup.failed is None


async def test_a_failing_nudge_loop_restarts_while_cards_keep_going() -> None:
    """The delivery worker's two loops: nudges that can't be claimed (say the nudge query
    breaks) back off and are retried on their own, and journey cards go out every round all
    the while; once nudges work again they go out too."""
    from bot.config import Settings
    from bot.workers.delivery import DeliveryReport, DeliveryWorker

    vt = VirtualTime()
    sup = supervisor(vt)
    stop = asyncio.Event()
    worker = DeliveryWorker(None, None, None, Settings(delivery_poll_seconds=10),  # type: ignore[arg-type]
                            name="test")
    calls = {"cards": 0, "nudges": 0, "sent": 0}

    async def deliver_due() -> DeliveryReport:
        calls["cards"] += 1
        if calls["cards"] >= 30:
            stop.set()
        return DeliveryReport(claimed=1, sent=1)

    async def send_nudges(report: DeliveryReport) -> None:
        calls["nudges"] += 1
        if calls["nudges"] <= 4:
            raise RuntimeError("nudge claim failed")
        report.nudges += 1
        calls["sent"] += 1

    worker.deliver_due = deliver_due  # type: ignore[method-assign]
    worker.send_nudges = send_nudges  # type: ignore[method-assign]
    worker.supervise(sup)
    delivery, nudges = sup.loops
    assert (delivery.name, nudges.name) == ("delivery", "retake nudges")
    await asyncio.wait_for(sup.run(stop), 5)
    assert calls["cards"] >= 30 and delivery.failures == 0  # never held up
    assert nudges.rounds > 5 and nudges.failures == 0 and calls["sent"] >= 1  # recovered
    assert nudges.last_error == "RuntimeError: nudge claim failed"
    assert sup.failed is None
