"""The daily delivery worker: claim due course-users, send each journey card once, record it.

Run as many workers as you like (`learnbot deliver`, plus the loop inside `learnbot run`): the
claim is one `FOR UPDATE SKIP LOCKED` statement, so workers never take the same row, and a
worker that dies leaves its claims to be retaken after the visibility timeout. A live worker's
heartbeat keeps its claims from being retaken however long it waits (a 429 pause), and only the
claim's holder — the token it was handed — can record how a delivery ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

import asyncpg
from aiogram import Bot
from aiogram.exceptions import TelegramUnauthorizedError

from bot.clock import utcnow
from bot.config import Settings
from bot.i18n import speaking
from bot.middlewares.errors import DATABASE_DOWN
from bot.transports.guard import TokenRevoked
from bot.ui import keyboards, texts
from bot.workers.retry import backoff
from bot.workers.sender import RateLimitedSender, SendFailed
from storage import deliveries, journeys, users
from storage.pg import transaction

if TYPE_CHECKING:
    from bot.workers.supervisor import Supervisor

log = logging.getLogger(__name__)
T = TypeVar("T")
# A failed "you can retake the quiz now" waits this long, then twice as long each time (capped
# at an hour), up to DELIVERY_MAX_ATTEMPTS tries: a Bot API outage of minutes loses nothing.
NUDGE_RETRY_AFTER = timedelta(minutes=1)


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retry_later: int = 0
    blocked: int = 0
    batches: int = 0
    nudges: int = 0
    nudges_failed: int = 0
    errors: list[str] = field(default_factory=list)


class DeliveryWorker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        bot: Bot,
        sender: RateLimitedSender,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        name: str | None = None,
        concurrency: int | None = None,
    ) -> None:
        self.pool = pool
        self.bot = bot
        self.sender = sender
        self.settings = settings
        self.clock = clock
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.concurrency = concurrency or settings.delivery_concurrency
        # Set on shutdown: no new batch, no new send; unsent claims are handed back at once.
        self.stopping = asyncio.Event()

    async def claim(self) -> dict[uuid.UUID, uuid.UUID]:
        """Claim a batch; returns each delivery's claim token (what marks it and keeps it)."""
        now = self.clock()
        vt = self.settings.delivery_visibility_timeout_seconds
        limit = self.settings.delivery_batch_size
        async with self.pool.acquire() as conn:
            # Two transactions: reclaimed claims stay taken even if the fresh claim fails.
            async with transaction(conn):
                reclaimed = await deliveries.reclaim_expired(
                    conn, now=now, limit=limit, worker=self.name, visibility_seconds=vt,
                    max_attempts=self.settings.delivery_max_attempts,
                )
            async with transaction(conn):
                fresh = await deliveries.claim_due(
                    conn, now=now, limit=limit, worker=self.name, visibility_seconds=vt
                )
                ids = reclaimed + fresh
                return await deliveries.claim_tokens(conn, ids) if ids else {}

    async def run_once(self) -> DeliveryReport:
        """Deliver everything due now — cards batch after batch, then quiz-retake nudges — and
        return (`learnbot deliver --once`; tests step the day with it)."""
        report = await self.deliver_due()
        if not self.stopping.is_set():
            await self.send_nudges(report)
        return report

    async def deliver_due(self) -> DeliveryReport:
        """Journey cards only: claim and send batches until nothing is due."""
        report = DeliveryReport()
        while not self.stopping.is_set():
            claims = await self.claim()
            if not claims:
                break
            report.batches += 1
            report.claimed += len(claims)
            await self.send_batch(claims, report)
        return report

    async def send_nudges(self, report: DeliveryReport) -> None:
        """"You can retake the quiz now", once per ended cooldown (claimed and recorded as an
        activity event in one statement, then sent through the rate-limited sender)."""
        while not self.stopping.is_set():
            async with self.pool.acquire() as conn, transaction(conn):
                due = await deliveries.claim_retake_nudges(
                    conn, now=self.clock(), limit=self.settings.delivery_batch_size)
            if not due:
                return
            for row in due:
                chat_id = row["telegram_id"]
                with speaking(row["locale"]):  # no update: the learner's own
                    text = texts.RETAKE_READY.format(module=row["module_no"],
                                                     title=texts.esc(row["course_title"]))
                    markup = keyboards.quiz_start(row["course_id"], row["module_no"])
                try:
                    await self.sender.send(chat_id, lambda c=chat_id, t=text, m=markup:
                                           self.bot.send_message(c, t, reply_markup=m))
                except SendFailed as exc:
                    async with self.pool.acquire() as conn:
                        if exc.blocked:
                            await users.mark_unreachable(conn, row["user_id"])
                        elif not exc.permanent:  # network, 5xx: try again after a while
                            await deliveries.retake_nudge_failed(
                                conn, user_id=row["user_id"], course_id=row["course_id"],
                                module_no=row["module_no"], claimed_at=row["claimed_at"],
                                now=self.clock(), max_attempts=self.settings.delivery_max_attempts,
                                first_wait=NUDGE_RETRY_AFTER)
                    report.nudges_failed += 1
                    continue
                report.nudges += 1

    async def round(self) -> DeliveryReport:
        """One supervised delivery round (see bot/workers/supervisor.py): cards only, so a
        nudge that can't be claimed or recorded never holds up the day's journeys."""
        report = await self.deliver_due()
        if report.claimed:
            log.info("delivered: sent=%s failed=%s retry=%s blocked=%s", report.sent,
                     report.failed, report.retry_later, report.blocked)
        return report

    async def nudge_round(self) -> DeliveryReport:
        """One supervised nudge round: its own loop, restarted with its own backoff."""
        report = DeliveryReport()
        if not self.stopping.is_set():
            await self.send_nudges(report)
        if report.nudges or report.nudges_failed:
            log.info("retake nudges: sent=%s failed=%s", report.nudges, report.nudges_failed)
        return report

    def supervise(self, supervisor: Supervisor) -> None:
        """Add this worker's loops: deliveries and nudges fail and back off independently."""
        every = self.settings.delivery_poll_seconds
        supervisor.add("delivery", self.round, every)
        supervisor.add("retake nudges", self.nudge_round, every)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """`learnbot deliver`: rounds under a supervisor until `stop`; raises WorkerFailed
        when it can't recover (or the token was revoked)."""
        from bot.workers.supervisor import Supervisor

        log.info("delivery worker %s started", self.name)
        supervisor = Supervisor(give_up_after=self.settings.supervisor_give_up_seconds)
        self.supervise(supervisor)
        await supervisor.run(stop)
        if supervisor.failed:
            raise WorkerFailed(supervisor.failed)

    async def send_batch(self, claims: dict[uuid.UUID, uuid.UUID],
                         report: DeliveryReport) -> None:
        async with self.pool.acquire() as conn:
            views = await journeys.views(conn, list(claims))
        held = dict(claims)  # what the heartbeat keeps alive: shrinks as deliveries finish
        beat = asyncio.create_task(self._heartbeat(held), name=f"heartbeat-{self.name}")
        gate = asyncio.Semaphore(self.concurrency)

        async def one(jv: journeys.JourneyView) -> None:
            async with gate:
                try:
                    if self.stopping.is_set():  # shutting down: hand the claim back now
                        await self._record("a hand-back", lambda conn: deliveries.mark_retry(
                            conn, jv.delivery_id, error="worker stopped before sending",
                            retry_at=self.clock(), token=claims[jv.delivery_id]))
                        return
                    await self.deliver(jv, claims[jv.delivery_id], report)
                finally:
                    held.pop(jv.delivery_id, None)

        try:
            results = await asyncio.gather(*(one(jv) for jv in views), return_exceptions=True)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        # The batch ran to the end either way; what couldn't be recorded fails the round.
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _heartbeat(self, held: dict[uuid.UUID, uuid.UUID]) -> None:
        """Extend the batch's claims every third of the visibility timeout while the worker
        still works on them (a long 429 pause included), so no other worker retakes them."""
        vt = self.settings.delivery_visibility_timeout_seconds
        while True:
            await asyncio.sleep(vt / 3)
            if not held:
                continue
            try:
                async with self.pool.acquire() as conn:
                    kept = await deliveries.heartbeat(conn, dict(held), now=self.clock(),
                                                      visibility_seconds=vt)
            except Exception as exc:  # a missed beat is harmless unless it lasts vt
                log.warning("delivery heartbeat failed: %s", exc)
                continue
            lost = set(held) - kept
            if lost:
                log.warning("%s delivery claim(s) were retaken by another worker", len(lost))

    async def _record(self, what: str, step: Callable[[asyncpg.Connection], Awaitable[T]], *,
                      atomic: bool = True) -> T:
        """Run one recording step, riding out a database restart for a while: the card is
        already out (or decided), and forgetting that would send it again after the
        visibility timeout. Whatever fails — the server down, starting up, a connection that
        died with the old server — is retried with backoff for up to half the visibility
        timeout, then raised (the round fails and the supervisor retries it)."""
        delay = 0.5
        deadline = time.monotonic() + self.settings.delivery_visibility_timeout_seconds / 2
        while True:
            try:  # one transaction: a retry never finds half a recording
                async with self.pool.acquire() as conn:
                    if not atomic:  # a single statement is atomic by itself
                        return await step(conn)
                    async with conn.transaction():
                        return await step(conn)
            except Exception as exc:
                if time.monotonic() + delay > deadline:
                    raise
                down = isinstance(exc, DATABASE_DOWN)
                log.warning("recording %s failed (%s%s); retrying", what, type(exc).__name__,
                            "" if down else f": {exc}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def deliver(self, jv: journeys.JourneyView, token: uuid.UUID,
                      report: DeliveryReport) -> None:
        chat_id = jv.telegram_id
        try:
            # Sent outside any update, so in the learner's stored language; built before
            # sending because the sender may run the call later, outside this context.
            with speaking(jv.locale):
                text = texts.journey_card(jv)
                markup = (keyboards.continue_(jv.delivery_id) if jv.kind == "farewell"
                          else keyboards.start(jv.delivery_id))
            message = await self.sender.send(
                chat_id, lambda: self.bot.send_message(chat_id, text, reply_markup=markup))
        except TelegramUnauthorizedError as exc:
            raise TokenRevoked(f"Telegram rejected the bot token (401 {exc.message})") from None
        except SendFailed as exc:
            error, blocked = str(exc), exc.blocked
            if exc.permanent:
                await self._record("a failure", lambda conn: deliveries.mark_failed(
                    conn, jv.delivery_id, error=error, unreachable=blocked, token=token))
                report.failed += 1
                report.blocked += int(blocked)
            else:
                await self._retry_later(jv, token, str(exc))
                report.retry_later += 1
            return
        except Exception as exc:  # one delivery's bug must not stop the others
            log.exception("delivery %s to %s failed unexpectedly", jv.delivery_id, chat_id)
            report.errors.append(f"{type(exc).__name__}: {exc}")
            await self._retry_later(jv, token, f"{type(exc).__name__}: {exc}")
            report.retry_later += 1
            return
        ours = await self._record("a send", lambda conn: deliveries.mark_sent(
            conn, jv.delivery_id, chat_id=chat_id, message_id=message.message_id,
            now=self.clock(), token=token), atomic=False)
        if not ours:
            log.warning("delivery %s was sent but its claim had been retaken", jv.delivery_id)
        report.sent += 1

    async def _retry_later(self, jv: journeys.JourneyView, token: uuid.UUID, error: str) -> None:
        retry_at = self.clock() + backoff(jv.attempts)
        await self._record("a retry", lambda conn: deliveries.mark_retry(
            conn, jv.delivery_id, error=error, retry_at=retry_at, token=token))


class WorkerFailed(RuntimeError):
    """The delivery loop kept failing past the give-up time, or the token was revoked."""
