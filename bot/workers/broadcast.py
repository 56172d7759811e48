"""Sending confirmed broadcasts: rate-limited, with one live progress message, resumable.

A `Broadcaster` lives in every bot process. A broadcast confirmed here starts at once; the
`run_forever` loop (started by `learnbot run`) adopts broadcasts whose owner stopped renewing
its lease — a process that was killed — and carries on from where that one stopped.

Exactly-once is kept at the database boundary: a recipient is committed as 'sending' inside the
sender's rate slot, immediately before the Bot API call, and only by the broadcast's lease
owner. A row still 'sending' after its owner died is never re-sent (see storage/broadcasts.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
from aiogram import Bot
from aiogram.exceptions import ClientDecodeError, TelegramNetworkError, TelegramServerError

from bot.config import Settings
from bot.i18n import speaking
from bot.ui import keyboards, texts
from bot.workers.retry import backoff
from bot.workers.sender import RateLimitedSender, SendFailed
from storage import broadcasts
from storage.broadcasts import Broadcast, Recipient
from storage.pg import transaction

log = logging.getLogger(__name__)


class _NotOurs(Exception):
    """The row or the broadcast is no longer ours to send (stopped, or taken over)."""


def delivery_unknown(exc: SendFailed) -> bool:
    """True when Telegram may have received the message although the call failed: a timeout or
    a connection lost mid-request. Refused connections, 5xx and 429s mean it did not."""
    cause = exc.__cause__
    if isinstance(cause, TelegramServerError) or exc.permanent:
        return False
    if isinstance(cause, ClientDecodeError):
        return True  # a garbled answer may hide a delivered message
    if isinstance(cause, TelegramNetworkError):
        return "ClientConnectorError" not in str(cause)
    return isinstance(cause, TimeoutError)


@dataclass
class _Run:
    broadcast: Broadcast
    # The "in flight" commit runs inside the sender's rate slot, right before the HTTP call;
    # a connection of its own keeps that step short and steady (no waiting on the pool).
    conn: asyncpg.Connection
    started: float = field(default_factory=time.monotonic)
    sent_here: int = 0
    stop: bool = False  # the broadcast was stopped or taken over: send nothing more
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    lost: bool = False  # the lease is gone (an admin stopped it, or another process has it)
    locale: str = "en"  # the progress report is edited outside any update: the admin's language


class Broadcaster:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        *,
        name: str | None = None,
        concurrency: int = 16,
        batch_size: int = 200,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.monotonic = monotonic
        self.lease = settings.broadcast_lease_seconds
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._runs: dict[uuid.UUID, _Run] = {}
        self._closing = False

    # --- starting and resuming -------------------------------------------------------------

    def launch(self, bot: Bot, sender: RateLimitedSender, broadcast_id: uuid.UUID) -> None:
        """Send a broadcast this process owns, in the background."""
        if self._closing:
            return  # shutting down: the next process takes it over
        running = self._tasks.get(broadcast_id)
        if running and not running.done():
            return
        task = asyncio.create_task(self._run(bot, sender, broadcast_id),
                                   name=f"broadcast-{broadcast_id}")
        self._tasks[broadcast_id] = task
        task.add_done_callback(lambda t: self._forget(broadcast_id, t))

    def _forget(self, broadcast_id: uuid.UUID, task: asyncio.Task[None]) -> None:
        if self._tasks.get(broadcast_id) is task:
            del self._tasks[broadcast_id]
        if not task.cancelled() and task.exception() is not None:
            log.error("broadcast %s crashed", broadcast_id, exc_info=task.exception())

    async def resume(self, bot: Bot, sender: RateLimitedSender) -> list[uuid.UUID]:
        """Adopt broadcasts whose owner's lease lapsed and send the rest of them."""
        async with transaction(self.pool) as conn:
            adopted = await broadcasts.take_over(conn, self.name, self.lease)
        for broadcast_id in adopted:
            log.info("resuming broadcast %s", broadcast_id)
            self.launch(bot, sender, broadcast_id)
        return adopted

    async def run_forever(self, bot: Bot, sender: RateLimitedSender, stop: asyncio.Event) -> None:
        """Look for orphaned broadcasts now and every half lease, until `stop`."""
        try:
            while not stop.is_set():
                try:
                    await self.resume(bot, sender)
                except Exception as exc:
                    log.error("looking for broadcasts to resume failed: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.lease / 2)
        finally:
            await self.close()

    async def wait(self) -> None:
        """Wait until every broadcast this process is sending has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def close(self, grace: float = 5.0) -> None:
        """Stop sending and hand our broadcasts over at once (no lease to wait out).

        Graceful: no new request starts, the ones in flight get `grace` seconds to finish and
        be recorded, then whatever is left is cancelled. Rows committed 'sending' whose request
        never left go back to pending, so the next process sends them (exactly once)."""
        self._closing = True
        for run in self._runs.values():
            run.stop = True
        tasks = list(self._tasks.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- one broadcast ---------------------------------------------------------------------

    async def _run(self, bot: Bot, sender: RateLimitedSender, broadcast_id: uuid.UUID) -> None:
        async with self.pool.acquire() as conn:
            b = await broadcasts.get(conn, broadcast_id)
            locale = await broadcasts.reporter_locale(conn, broadcast_id)
        if b is None or b.status != "sending" or b.owner != self.name:
            return
        async with self.pool.acquire() as own:
            run = _Run(b, own, started=self.monotonic(), locale=locale)
            self._runs[b.id] = run
            # The lease has its own timer: however long a send waits (a 429 pause, a slow
            # progress edit), the lease is renewed and nobody takes the broadcast over.
            lease = asyncio.create_task(self._lease_loop(run))
            progress = asyncio.create_task(self._progress_loop(bot, sender, run))
            try:
                await self._send_all(bot, sender, run)
            except asyncio.CancelledError:
                await self._release(b.id)
                raise
            finally:
                self._runs.pop(b.id, None)
                for task in (progress, lease):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        if self._closing and not run.lost:
            await self._release(b.id)  # shutting down: the next process carries on at once
            return
        await self._finish(bot, sender, run)

    async def _release(self, broadcast_id: uuid.UUID) -> None:
        with contextlib.suppress(Exception):
            async with self.pool.acquire() as conn:
                await asyncio.shield(broadcasts.release(conn, broadcast_id, self.name))

    async def _send_all(self, bot: Bot, sender: RateLimitedSender, run: _Run) -> None:
        b = run.broadcast
        while not run.stop:
            async with self.pool.acquire() as conn:
                batch = await broadcasts.claim(conn, b.id, self.name, limit=self.batch_size,
                                               hold_seconds=self.lease * 2)
                if not batch:
                    if not await broadcasts.renew(conn, b.id, self.name, self.lease):
                        run.stop = run.lost = True  # stopped by an admin, or taken over
                        return
                    wait = await broadcasts.seconds_until_due(conn, b.id)
            if not batch:
                if wait is None:
                    return  # nothing pending: finished
                await asyncio.sleep(min(max(wait, 0.2), self.settings.broadcast_progress_seconds))
                continue
            await self._send_batch(bot, sender, run, batch)

    async def _send_batch(
        self, bot: Bot, sender: RateLimitedSender, run: _Run, batch: list[Recipient]
    ) -> None:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(r: Recipient) -> None:
            async with gate:
                if not run.stop:
                    await self._send_one(bot, sender, run, r)

        await asyncio.gather(*(one(r) for r in batch))

    async def _send_one(
        self, bot: Bot, sender: RateLimitedSender, run: _Run, r: Recipient
    ) -> None:
        b = run.broadcast
        issued = False
        committed = False

        async def in_flight() -> None:
            # Inside the rate slot: commit "in flight"; the sender then paces the call itself.
            nonlocal committed
            if run.stop:
                raise _NotOurs  # shutting down (or stopped): start nothing new
            async with run.lock:
                ours = await broadcasts.mark_sending(run.conn, b.id, r.user_id, self.name)
            if not ours:
                raise _NotOurs
            committed = True

        async def not_sent() -> None:
            nonlocal committed
            if committed:
                async with run.lock:
                    await broadcasts.mark_not_sent(run.conn, b.id, r.user_id, self.name)
                committed = False

        def call():  # the Bot API call, noting that a request really left
            nonlocal issued
            issued = True
            return bot.send_message(r.chat_id, b.body)

        try:
            message = await sender.send(r.chat_id, call, prepare=in_flight, refused=not_sent)
        except _NotOurs:
            run.stop = True
            return
        except asyncio.CancelledError:
            if not issued:  # committed 'sending' but nothing left: pending again
                with contextlib.suppress(Exception):
                    await asyncio.shield(not_sent())
            raise
        except SendFailed as exc:
            await self._record_failure(run, r, exc)
            return
        except Exception:  # one recipient's bug must not stop the broadcast
            log.exception("broadcast %s to %s failed unexpectedly", b.id, r.chat_id)
            await self._record_failure(run, r, SendFailed("unexpected error", permanent=False))
            return
        async with self.pool.acquire() as conn:
            await broadcasts.mark_sent(conn, b.id, r.user_id, message.message_id)
        run.sent_here += 1

    async def _record_failure(self, run: _Run, r: Recipient, exc: SendFailed) -> None:
        b = run.broadcast
        async with self.pool.acquire() as conn:
            if exc.permanent:
                await broadcasts.mark_failed(conn, b.id, r.user_id, error=str(exc),
                                             unreachable=exc.blocked)
            elif delivery_unknown(exc):
                await broadcasts.mark_unconfirmed(conn, b.id, r.user_id, error=str(exc))
            else:
                delay = backoff(r.attempts + 1).total_seconds()
                await broadcasts.mark_retry(conn, b.id, r.user_id, error=str(exc),
                                            delay_seconds=delay,
                                            max_attempts=self.settings.delivery_max_attempts)

    # --- the progress message --------------------------------------------------------------

    async def _lease_loop(self, run: _Run) -> None:
        """Renew the lease every third of it, on its own connection and timer."""
        b = run.broadcast
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                async with self.pool.acquire() as conn:
                    ours = await broadcasts.renew(conn, b.id, self.name, self.lease)
            except Exception as exc:
                # A missed renewal is harmless unless it lasts a whole lease; then another
                # process takes over and this one stops at its next row.
                log.warning("broadcast %s: lease renewal failed: %s", b.id, exc)
                continue
            if not ours:
                run.stop = run.lost = True
                return

    async def _progress_loop(self, bot: Bot, sender: RateLimitedSender, run: _Run) -> None:
        """Every few seconds: edit the progress message (the lease is renewed elsewhere)."""
        b = run.broadcast
        every = self.settings.broadcast_progress_seconds
        while True:
            await asyncio.sleep(every)
            try:
                async with self.pool.acquire() as conn:
                    counts = await broadcasts.counts(conn, b.id)
            except Exception as exc:
                log.warning("broadcast %s: progress update failed: %s", b.id, exc)
                continue
            with speaking(run.locale):
                text = texts.broadcast_progress(
                    b.target_label, counts.sent, counts.failed, counts.unconfirmed, counts.left,
                    counts.total, self._eta(run, counts.left))
                markup = keyboards.broadcast_stop(b.id)
            await self._edit(bot, sender, b, text, markup)

    def _eta(self, run: _Run, left: int) -> float | None:
        if left == 0:
            return 0.0
        elapsed = self.monotonic() - run.started
        rate = run.sent_here / elapsed if run.sent_here >= 5 and elapsed > 0 else 0.0
        rate = min(rate, self.settings.delivery_rate_per_second) or \
            self.settings.delivery_rate_per_second
        return left / rate

    async def _finish(self, bot: Bot, sender: RateLimitedSender, run: _Run) -> None:
        b = run.broadcast
        async with self.pool.acquire() as conn:
            done = await broadcasts.finish(conn, b.id, self.name)
            now = await broadcasts.get(conn, b.id)
            counts = await broadcasts.counts(conn, b.id)
        if now is None or not (done or (now.status == "cancelled" and now.owner == self.name)):
            return  # another process owns it now and will report
        seconds = None
        if now.started_at and now.finished_at:
            seconds = (now.finished_at - now.started_at).total_seconds()
        with speaking(run.locale):
            text = texts.broadcast_finished(
                b.target_label, counts.sent, counts.failed, counts.unconfirmed, counts.total,
                seconds, stopped=not done)
        await self._edit(bot, sender, b, text, None)
        log.info("broadcast %s %s: sent=%s failed=%s unconfirmed=%s", b.id,
                 "done" if done else "stopped", counts.sent, counts.failed, counts.unconfirmed)

    async def _edit(self, bot: Bot, sender: RateLimitedSender, b: Broadcast, text: str,
                    markup: object) -> None:
        chat_id, message_id = b.progress_chat_id, b.progress_message_id
        if chat_id is None or message_id is None:
            return
        try:
            await sender.send(chat_id, lambda: bot.edit_message_text(
                text, chat_id=chat_id, message_id=message_id, reply_markup=markup))
        except SendFailed as exc:
            if "not modified" not in str(exc):
                log.warning("could not update broadcast progress: %s", exc)
