from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update
from aiogram.types import User as TgUser

from bot.config import Settings
from bot.i18n import i18n, locale_of
from bot.middlewares.users import sender_fields
from storage.uow import AlreadyHandled, Database, UpdateWork

log = logging.getLogger(__name__)


class UnitOfWorkMiddleware(BaseMiddleware):
    """Hand handlers `db`: the update's units of work (see `storage.uow`), never a connection
    held for the whole update. Repeats of an update whose effects committed are dropped.

    The repeat check and the sender's upsert are one round trip (`storage.users.arrive`),
    shared with the updates arriving at the same time (`storage.uow.Arrivals`): handlers get
    `user` (with its role), the only identity they use. Any update counts as the learner
    being back: a lapsed learner's cards resume.

    Handlers speak the learner's stored language (`bot.i18n.locale_of`).

    The update is recorded with its first transaction, or after the handler returns when it
    changed nothing; a handler that fails before either leaves it unrecorded, so a redelivery
    is handled again."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Update):
            data["db"] = self.db
            return await handler(event, data)
        work = UpdateWork(self.db, data["bot"].id, event.update_id)
        tg: TgUser | None = data.get("event_from_user")
        if tg is not None and not tg.is_bot:
            seen, user = await work.arrive(tg.id, **sender_fields(self.settings, tg, data))
            if user is not None:
                data["user"] = user
        else:
            seen = await work.seen()
        if seen:
            log.info("dropping repeated update %s", event.update_id)
            return None
        data["db"] = work
        try:
            # the stored language, now that the learner is loaded (here rather than in a
            # second locale middleware: one layer of aiogram's wrapping less per update)
            with i18n.use_locale(locale_of(data)):
                result = await handler(event, data)
        except AlreadyHandled:
            log.info("update %s was handled concurrently; dropped", event.update_id)
            return None
        await work.record()
        return result
