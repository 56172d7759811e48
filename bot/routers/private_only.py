"""Commands that touch personal data or manage people work only in a private chat.

In a group such a command gets at most one short hint per group every few minutes, and none
at all from a non-admin in a group that isn't a cohort's (the bot stays quiet where it has no
business). Registered before every other router, so nothing below ever sees these commands in
a group: no export, invite link or member list can land there."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.routers.admin import ADMIN_ONLY
from bot.ui import texts
from bot.ui.replies import GROUP_TYPES, reply
from bot.workers.sender import RateLimitedSender
from storage import cohorts
from storage.uow import Transactor
from storage.users import User

PRIVATE_ONLY = (*ADMIN_ONLY, "quota", "cohort_new", "cohort_open", "cohort_close", "cohorts",
                "cohort_add", "project", "downvoted", "my_data", "delete_me")
HINT_EVERY_SECONDS = 600
MAX_GROUPS = 10_000


class HintLimiter:
    """At most one hint per group per `every` seconds; remembers a bounded number of groups."""

    def __init__(self, every: float = HINT_EVERY_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.clock = clock
        self.last: OrderedDict[int, float] = OrderedDict()

    def allow(self, chat_id: int) -> bool:
        now = self.clock()
        if now - self.last.get(chat_id, -1e18) < self.every:
            return False
        self.last[chat_id] = now
        self.last.move_to_end(chat_id)
        while len(self.last) > MAX_GROUPS:
            self.last.popitem(last=False)
        return True


def build_router(limiter: HintLimiter | None = None) -> Router:
    hints = limiter or HintLimiter()

    async def use_private_chat(message: Message, bot: Bot, db: Transactor,
                               sender: RateLimitedSender, user: User | None = None) -> None:
        if not (user and user.is_admin):
            async with db.read() as conn:
                linked = await cohorts.get_by_chat(conn, message.chat.id) is not None
            if not linked:
                return
        if not hints.allow(message.chat.id):
            return
        me = await bot.me()
        await reply(message, texts.USE_PRIVATE_CHAT.format(username=me.username or ""), sender)

    router = Router(name="private_only")
    router.message.register(use_private_chat, Command(*PRIVATE_ONLY),
                            F.chat.type.in_(GROUP_TYPES))
    return router
