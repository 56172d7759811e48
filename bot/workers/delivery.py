"""The daily delivery worker: claim due course-users, send each journey card once, record it.

Run as many workers as you like (`learnbot deliver`, plus the loop inside `learnbot run`): the
claim is one `FOR UPDATE SKIP LOCKED` statement, so workers never take the same row, and a
worker that dies leaves its claims to be retaken after the visibility timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
from aiogram import Bot

from bot.clock import utcnow
from bot.config import Settings
from bot.ui import keyboards, texts
from bot.workers.retry import backoff
from bot.workers.sender import RateLimitedSender, SendFailed
from storage import deliveries, journeys, users
from storage.pg import transaction

log = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retry_later: int = 0
    blocked: int = 0
    batches: int = 0
    nudges: int = 0
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

    async def claim(self) -> list[uuid.UUID]:
        now = self.clock()
        vt = self.settings.delivery_visibility_timeout_seconds
        limit = self.settings.delivery_batch_size
        async with self.pool.acquire() as conn:
            reclaimed = await deliveries.reclaim_expired(
                conn, now=now, limit=limit, worker=self.name, visibility_seconds=vt,
                max_attempts=self.settings.delivery_max_attempts,
            )
            async with transaction(conn):
                fresh = await deliveries.claim_due(
                    conn, now=now, limit=limit, worker=self.name, visibility_seconds=vt
                )
        return reclaimed + fresh

    async def run_once(self) -> DeliveryReport:
        """Deliver everything due now, batch after batch, then return."""
        report = DeliveryReport()
        while True:
            ids = await self.claim()
            if not ids:
                break
            report.batches += 1
            report.claimed += len(ids)
            await self.send_batch(ids, report)
        await self.send_nudges(report)
        return report

    async def send_nudges(self, report: DeliveryReport) -> None:
        """"You can retake the quiz now", once per ended cooldown (claimed and recorded as an
        activity event in one statement, then sent through the rate-limited sender)."""
        while True:
            async with self.pool.acquire() as conn, transaction(conn):
                due = await deliveries.claim_retake_nudges(
                    conn, now=self.clock(), limit=self.settings.delivery_batch_size)
            if not due:
                return
            for row in due:
                chat_id = row["telegram_id"]
                text = texts.RETAKE_READY.format(module=row["module_no"],
                                                 title=texts.esc(row["course_title"]))
                markup = keyboards.quiz_start(row["course_slug"], row["module_no"])
                try:
                    await self.sender.send(chat_id, lambda c=chat_id, t=text, m=markup:
                                           self.bot.send_message(c, t, reply_markup=m))
                except SendFailed as exc:
                    if exc.blocked:
                        async with self.pool.acquire() as conn:
                            await users.mark_unreachable(conn, row["user_id"])
                    continue
                report.nudges += 1

    async def run_forever(self, stop: asyncio.Event) -> None:
        log.info("delivery worker %s started", self.name)
        while not stop.is_set():
            try:
                report = await self.run_once()
                if report.claimed:
                    log.info("delivered: sent=%s failed=%s retry=%s blocked=%s", report.sent,
                             report.failed, report.retry_later, report.blocked)
            except (asyncpg.PostgresError, OSError) as exc:
                log.error("delivery round failed, will retry: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.delivery_poll_seconds)

    async def send_batch(self, ids: list[uuid.UUID], report: DeliveryReport) -> None:
        async with self.pool.acquire() as conn:
            views = await journeys.views(conn, ids)
        gate = asyncio.Semaphore(self.concurrency)

        async def one(jv: journeys.JourneyView) -> None:
            async with gate:
                await self.deliver(jv, report)

        await asyncio.gather(*(one(jv) for jv in views))

    async def deliver(self, jv: journeys.JourneyView, report: DeliveryReport) -> None:
        chat_id = jv.telegram_id
        try:
            message = await self.sender.send(
                chat_id,
                lambda: self.bot.send_message(
                    chat_id, texts.journey_card(jv),
                    reply_markup=(keyboards.continue_(jv.delivery_id) if jv.kind == "farewell"
                                  else keyboards.start(jv.delivery_id)),
                ),
            )
        except SendFailed as exc:
            async with self.pool.acquire() as conn:
                if exc.permanent:
                    await deliveries.mark_failed(conn, jv.delivery_id, error=str(exc),
                                               unreachable=exc.blocked)
                    report.failed += 1
                    report.blocked += int(exc.blocked)
                else:
                    retry_at = self.clock() + backoff(jv.attempts)
                    await deliveries.mark_retry(conn, jv.delivery_id, error=str(exc),
                                              retry_at=retry_at)
                    report.retry_later += 1
            return
        async with self.pool.acquire() as conn:
            await deliveries.mark_sent(conn, jv.delivery_id, chat_id=chat_id,
                                     message_id=message.message_id, now=self.clock())
        report.sent += 1
