"""Composition: the Bot, the Dispatcher with its middlewares and routers, the command menus."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime

import asyncpg
from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
)

from bot.asking import build_rag
from bot.broadcast import Broadcaster
from bot.config import Settings
from bot.delivery import utcnow
from bot.middlewares import (
    DatabaseMiddleware,
    DedupeMiddleware,
    GroupOrderMiddleware,
    ThrottlingMiddleware,
    UserMiddleware,
)
from bot.routers import (
    admin,
    ask,
    cohort,
    coldcall,
    fallback,
    journeys,
    persona,
    preferences,
    quiz,
    start,
)
from bot.sender import RateLimitedSender

LEARNER_COMMANDS = [
    BotCommand(command="today", description="Today's journey"),
    BotCommand(command="progress", description="Your progress"),
    BotCommand(command="courses", description="Browse and enroll"),
    BotCommand(command="quiz", description="Take your module quiz"),
    BotCommand(command="badges", description="Badges, XP and streak"),
    BotCommand(command="quota", description="Typed questions left"),
    BotCommand(command="new", description="Start a fresh conversation"),
    BotCommand(command="persona", description="Choose your learning style"),
    BotCommand(command="timezone", description="Set your time zone"),
    BotCommand(command="time", description="Choose your delivery hour"),
    BotCommand(command="pause", description="Pause daily journeys"),
    BotCommand(command="resume", description="Resume daily journeys"),
    BotCommand(command="help", description="What I can do"),
]
TUTOR_COMMANDS = [
    *LEARNER_COMMANDS,
    BotCommand(command="coldcall", description="Post a cold call: <cohort> <topic>"),
    BotCommand(command="top", description="Top answers: <cohort>"),
    BotCommand(command="cohorts", description="Your cohorts"),
    BotCommand(command="cohort_add", description="Add members: <cohort> <email>…"),
    BotCommand(command="project", description="Batch project: <cohort> <batch> <title> <url>"),
]
ADMIN_COMMANDS = [
    *[c for c in TUTOR_COMMANDS if c.command != "quota"],  # admins' /quota also sets it
    BotCommand(command="import", description="Import a course (.zip caption)"),
    BotCommand(command="stats", description="Analytics: [course]"),
    BotCommand(command="export", description="Learner progress CSV: <course>"),
    BotCommand(command="broadcast", description="Message learners: <course|cohort> <text>"),
    BotCommand(command="cohort_new", description="New cohort: <course> <name>"),
    BotCommand(command="cohort_open", description="Reactivate a cohort"),
    BotCommand(command="cohort_close", description="Deactivate a cohort"),
    BotCommand(command="grant", description="admin|tutor @user [course]"),
    BotCommand(command="revoke", description="admin|tutor @user [course]"),
    BotCommand(command="page", description="Edit help/about/welcome: <slug> <text>"),
    BotCommand(command="quota", description="Questions left; set: <course> <n>"),
]
GROUP_COMMANDS = [
    BotCommand(command="top", description="Most-starred answers to the current cold call"),
    BotCommand(command="star", description="Reply to an answer to star it"),
    BotCommand(command="coldcall", description="Tutors: post a cold call <topic>"),
    BotCommand(command="link", description="Admins: link this group to a cohort"),
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
    dp.update.outer_middleware(GroupOrderMiddleware())  # first: before anything awaits
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
    # Group posts and broadcasts go through one rate-limited sender; `learnbot run` replaces
    # it with the sender its delivery worker uses, so the bot has a single budget.
    dp["sender"] = RateLimitedSender(
        rate_per_second=settings.delivery_rate_per_second,
        chat_interval=settings.delivery_chat_interval_seconds,
        group_per_minute=settings.delivery_group_per_minute,
    )
    dp["broadcaster"] = Broadcaster(pool, settings)
    dp["rag"] = build_rag(settings)  # cheap: the embedding model loads on first use
    return dp


def feature_routers() -> list[Router]:
    """Every feature router, in dispatch order; the fallback router must stay last."""
    return [
        admin.router,
        cohort.router,
        coldcall.router,
        start.router,
        journeys.router,
        quiz.router,
        preferences.router,
        persona.router,
        ask.router,  # any other private text is a question: after every feature's handlers
        fallback.router,
    ]


async def set_commands(bot: Bot, settings: Settings) -> None:
    await bot.set_my_commands(LEARNER_COMMANDS, scope=BotCommandScopeAllPrivateChats())
    for admin_id in settings.admin_telegram_ids:
        await bot.set_my_commands(ADMIN_COMMANDS, scope=BotCommandScopeChat(chat_id=admin_id))
    await bot.set_my_commands(GROUP_COMMANDS, scope=BotCommandScopeAllGroupChats())


async def set_role_commands(bot: Bot, telegram_id: int, role: str) -> None:
    """A person's private menu after /grant or /revoke; failures (they never wrote to the bot)
    don't matter: the menu is set again when the role changes next."""
    scope = BotCommandScopeChat(chat_id=telegram_id)
    with contextlib.suppress(TelegramAPIError):
        if role == "learner":
            await bot.delete_my_commands(scope=scope)
        else:
            await bot.set_my_commands(ADMIN_COMMANDS if role == "admin" else TUTOR_COMMANDS,
                                      scope=scope)
