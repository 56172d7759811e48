"""Composition: the Bot, the Dispatcher with its middlewares and routers, the command menus."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import asyncpg
from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage

from bot.background import Background
from bot.clock import utcnow
from bot.config import Settings
from bot.i18n import LocaleMiddleware
from bot.middlewares import (
    DatabaseTroubleMiddleware,
    GroupOrderMiddleware,
    InFlightMiddleware,
    ThrottlingMiddleware,
    UnitOfWorkMiddleware,
    UserMiddleware,
)
from bot.routers import (
    admin,
    ask,
    cohort,
    coldcall,
    fallback,
    feedback,
    journeys,
    language,
    persona,
    preferences,
    privacy,
    private_only,
    quiz,
    refusals,
    start,
)
from bot.services import build_rag
from bot.transports.guard import install_guards
from bot.workers.broadcast import Broadcaster
from bot.workers.sender import RateLimitedSender
from storage.uow import Database


def make_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    if session is None:
        session = (
            AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
            if settings.telegram_api_url
            else AiohttpSession()
        )
    token = settings.bot_token.get_secret_value() if settings.bot_token else "1:console"
    bot = Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    install_guards(bot)  # typing never fails, a 401 anywhere is noticed (bot/transports/guard)
    return bot


def fsm_storage(settings: Settings) -> BaseStorage:
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage  # needs the `redis` extra

        return RedisStorage.from_url(settings.redis_url)
    return MemoryStorage()


def build_dispatcher(
    settings: Settings,
    pool: asyncpg.Pool,
    *,
    clock: Callable[[], datetime] = utcnow,
    storage: BaseStorage | None = None,
) -> Dispatcher:
    db = Database(pool, acquire_timeout=settings.database_acquire_timeout_seconds)
    dp = Dispatcher(
        storage=storage or fsm_storage(settings), pool=pool, settings=settings, clock=clock
    )
    dp["inflight"] = InFlightMiddleware()  # a shutdown waits for these (bot/cli.py)
    dp.update.outer_middleware(dp["inflight"])
    dp.update.outer_middleware(GroupOrderMiddleware())  # before anything awaits
    # Replies before the learner is loaded (flood, database trouble) use Telegram's language;
    # the second LocaleMiddleware switches to the stored choice once `user` is known.
    dp.update.outer_middleware(LocaleMiddleware())
    dp.update.outer_middleware(ThrottlingMiddleware(settings.flood_messages_per_minute))
    dp.update.outer_middleware(DatabaseTroubleMiddleware())
    dp.update.outer_middleware(UnitOfWorkMiddleware(db, settings))
    dp.update.outer_middleware(UserMiddleware(settings))
    dp.update.outer_middleware(LocaleMiddleware())
    dp.include_routers(*feature_routers())
    # Group posts and broadcasts go through one rate-limited sender; `learnbot run` replaces
    # it with the sender its delivery worker uses, so the bot has a single budget.
    dp["sender"] = RateLimitedSender(
        rate_per_second=settings.delivery_rate_per_second,
        chat_interval=settings.delivery_chat_interval_seconds,
        group_per_minute=settings.delivery_group_per_minute,
    )
    dp["broadcaster"] = Broadcaster(pool, settings)
    dp["rag"] = build_rag(settings)  # cheap: the embedding model loads on first use
    dp["background"] = Background()
    return dp


def feature_routers() -> list[Router]:
    """A fresh router per feature, in dispatch order (each Dispatcher gets its own)."""
    return [
        private_only.build_router(),  # first: personal data never answered into a group
        admin.build_router(),
        cohort.build_router(),
        coldcall.build_router(),
        start.build_router(),
        journeys.build_router(),
        quiz.build_router(),
        preferences.build_router(),
        persona.build_router(),
        language.build_router(),
        privacy.build_router(),
        feedback.build_router(),
        refusals.build_router(),  # after every role-guarded handler: says why not
        ask.build_router(),  # any other private text is a question
        fallback.build_router(),  # last: unknown commands, stale buttons
    ]
