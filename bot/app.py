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
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeChat

from bot.config import Settings
from bot.delivery import utcnow
from bot.middlewares import (
    DatabaseMiddleware,
    DedupeMiddleware,
    ThrottlingMiddleware,
    UserMiddleware,
)
from bot.routers import admin, fallback, journeys, preferences, quiz, start

LEARNER_COMMANDS = [
    BotCommand(command="today", description="Today's journey"),
    BotCommand(command="progress", description="Your progress"),
    BotCommand(command="courses", description="Browse and enroll"),
    BotCommand(command="quiz", description="Take your module quiz"),
    BotCommand(command="badges", description="Badges, XP and streak"),
    BotCommand(command="timezone", description="Set your time zone"),
    BotCommand(command="time", description="Choose your delivery hour"),
    BotCommand(command="pause", description="Pause daily journeys"),
    BotCommand(command="resume", description="Resume daily journeys"),
    BotCommand(command="help", description="What I can do"),
]
ADMIN_COMMANDS = [
    *LEARNER_COMMANDS,
    BotCommand(command="import", description="Import a course (.zip caption)"),
]


def make_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    if session is None:
        session = (
            AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
            if settings.telegram_api_url
            else AiohttpSession()
        )
    token = settings.bot_token.get_secret_value() if settings.bot_token else "1:console"
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


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
    dp = Dispatcher(
        storage=storage or fsm_storage(settings), pool=pool, settings=settings, clock=clock
    )
    dp.update.outer_middleware(DatabaseMiddleware(pool))
    dp.update.outer_middleware(DedupeMiddleware())
    dp.update.outer_middleware(UserMiddleware(settings))
    throttle = ThrottlingMiddleware(settings.flood_messages_per_minute)
    dp.message.outer_middleware(throttle)
    dp.callback_query.outer_middleware(throttle)
    routers = feature_routers()
    for router in routers:
        # Module-level routers attach to one parent; tests and the console build several
        # Dispatchers per process, so release them from any earlier one first.
        router._parent_router = None
    dp.include_routers(*routers)
    return dp


def feature_routers() -> list[Router]:
    """Every feature router, in dispatch order; the fallback router must stay last."""
    return [
        admin.router,
        start.router,
        journeys.router,
        quiz.router,
        preferences.router,
        fallback.router,
    ]


async def set_commands(bot: Bot, settings: Settings) -> None:
    await bot.set_my_commands(LEARNER_COMMANDS, scope=BotCommandScopeAllPrivateChats())
    for admin_id in settings.admin_telegram_ids:
        await bot.set_my_commands(ADMIN_COMMANDS, scope=BotCommandScopeChat(chat_id=admin_id))
