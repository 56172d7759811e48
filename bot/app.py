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
from bot.filters import gate_commands, inline_sync_filters
from bot.i18n import LocaleMiddleware
from bot.middlewares import (
    DatabaseTroubleMiddleware,
    GroupOrderMiddleware,
    InFlightMiddleware,
    ThrottlingMiddleware,
    UnitOfWorkMiddleware,
)
from bot.middlewares.claims import UpdateClaimMiddleware
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
from bot.shared import SharedLimits, shared_limits
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
        # needs the `redis` extra
        from aiogram.fsm.storage.redis import DefaultKeyBuilder, RedisStorage

        return RedisStorage.from_url(settings.redis_url, key_builder=DefaultKeyBuilder(
            prefix=f"{settings.redis_key_prefix}:fsm"))
    return MemoryStorage()


def make_sender(settings: Settings, shared: SharedLimits | None) -> RateLimitedSender:
    """The rate-limited sender for bulk messages, on the shared budget when there is one."""
    return RateLimitedSender(
        rate_per_second=settings.delivery_rate_per_second,
        chat_interval=settings.delivery_chat_interval_seconds,
        group_per_minute=settings.delivery_group_per_minute,
        shared=shared,
    )


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
    # With Redis, every process of the bot shares the send budget, the flood control and
    # in-flight update claims (bot/shared.py); `learnbot run` closes it on the way out.
    shared = dp["shared"] = shared_limits(settings)
    dp["inflight"] = InFlightMiddleware()  # a shutdown waits for these (bot/cli.py)
    dp.update.outer_middleware(dp["inflight"])
    if shared is not None:  # a twin of an update waits here, holding nothing
        dp.update.outer_middleware(UpdateClaimMiddleware(shared))
    dp.update.outer_middleware(GroupOrderMiddleware())  # before anything awaits
    # Replies before the learner is loaded (flood, database trouble) use Telegram's language;
    # the unit-of-work middleware switches to the stored choice once `user` is known.
    dp.update.outer_middleware(LocaleMiddleware())
    dp.update.outer_middleware(ThrottlingMiddleware(settings.flood_messages_per_minute,
                                                    shared=shared))
    dp.update.outer_middleware(DatabaseTroubleMiddleware())
    dp.update.outer_middleware(UnitOfWorkMiddleware(db, settings))
    dp.include_routers(*feature_routers())
    # Group posts and broadcasts go through one rate-limited sender; `learnbot run` hands the
    # same one to its delivery worker, so the process has a single budget.
    dp["sender"] = make_sender(settings, shared)
    dp["broadcaster"] = Broadcaster(pool, settings)
    dp["rag"] = build_rag(settings)  # cheap: the embedding model loads on first use
    dp["background"] = Background()
    return dp


def feature_routers() -> list[Router]:
    """A fresh router per feature, in dispatch order (each Dispatcher gets its own), with
    their magic filters run inline and, where all its handlers are commands, one check of
    the command up front (`bot.filters`)."""
    return [gate_commands(inline_sync_filters(router)) for router in (
        private_only.build_router(),  # first: personal data never answered into a group
        # the learner's everyday commands early: no router before them shares a command or a
        # button with them, so only the order they are looked for changes
        start.build_router(),
        journeys.build_router(),
        admin.build_router(),
        cohort.build_router(),
        coldcall.build_router(),
        quiz.build_router(),
        preferences.build_router(),
        persona.build_router(),
        language.build_router(),
        privacy.build_router(),
        feedback.build_router(),
        refusals.build_router(),  # after every role-guarded handler: says why not
        ask.build_router(),  # any other private text is a question
        fallback.build_router(),  # last: unknown commands, stale buttons
    )]
