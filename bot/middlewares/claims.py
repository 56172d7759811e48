"""Several bot processes: the same update handled by one of them at a time.

Telegram redelivers an update it got no answer for (a slow handler, a timeout at the load
balancer), possibly to another process while the first is still working on it. The
de-duplication record (storage/uow.py) commits with the update's effects, so database effects
can't happen twice — but an update that changes nothing (/help) would be answered twice, and a
twin that finds the first's record only after its own reply went out repeats that reply.

So with Redis each update is claimed before anything else happens: the first process takes
the claim; a twin waits until it is released, then goes on, and the de-duplication check
drops it (or, if the first failed before recording anything, handles it). A twin that waits
longer than `wait_seconds` gives up with an error, which in webhook mode is a 503: Telegram
delivers it again later. The claim expires by itself if its holder dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from bot.shared import SharedLimits, SharedUnavailable

log = logging.getLogger(__name__)


class UpdateBusy(RuntimeError):
    """Another process has been handling this update for too long to wait for it."""


class UpdateClaimMiddleware(BaseMiddleware):
    def __init__(self, shared: SharedLimits, *, ttl_seconds: float = 300.0,
                 wait_seconds: float = 25.0) -> None:
        self.shared = shared
        self.ttl = ttl_seconds
        self.wait_seconds = wait_seconds

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        key = self.shared.key("update", event.update_id)
        token = uuid.uuid4().hex
        try:
            claimed = await self.shared.claim(key, token, self.ttl)
            deadline = time.monotonic() + self.wait_seconds
            while not claimed:
                if time.monotonic() > deadline:
                    raise UpdateBusy(f"update {event.update_id} is being handled elsewhere")
                await asyncio.sleep(0.05)
                claimed = await self.shared.claim(key, token, self.ttl)
        except SharedUnavailable:
            # Without Redis the database's de-duplication still holds for every effect
            # that writes; only a read-only twin could be answered twice.
            return await handler(event, data)
        try:
            return await handler(event, data)
        finally:
            with contextlib.suppress(SharedUnavailable):  # else it expires by itself
                await self.shared.release(key, token)
