"""Command menus per scope (private learners, tutors, admins, groups) and setting them."""

from __future__ import annotations

import contextlib

from aiogram import Bot
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
)

from bot.config import Settings
from bot.transports.guard import SOFT_FAILURES, optional

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
    BotCommand(command="my_data", description="Everything I keep about you"),
    BotCommand(command="delete_me", description="Erase your data"),
    BotCommand(command="leave", description="Leave a course (progress kept)"),
    BotCommand(command="course", description="Which course your questions are about"),
    BotCommand(command="help", description="What I can do"),
]
TUTOR_COMMANDS = [
    *LEARNER_COMMANDS,
    BotCommand(command="coldcall", description="Post a cold call: <cohort> <topic>"),
    BotCommand(command="top", description="Top answers: <cohort>"),
    BotCommand(command="cohorts", description="Your cohorts"),
    BotCommand(command="cohort_add", description="Add members: <cohort> <email>…"),
    BotCommand(command="project", description="Batch project: <cohort> <batch> <title> <url>"),
    BotCommand(command="downvoted", description="Down-voted answers: <course>"),
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


async def set_commands(bot: Bot, settings: Settings) -> bool:
    """Set every scope's menu. Optional: a server that refuses or garbles any of it costs one
    warning and the bot runs without menus (only a 401 propagates). True when all were set."""

    async def every_menu() -> bool:
        await bot.set_my_commands(LEARNER_COMMANDS, scope=BotCommandScopeAllPrivateChats())
        for admin_id in settings.admin_telegram_ids:
            await bot.set_my_commands(ADMIN_COMMANDS,
                                      scope=BotCommandScopeChat(chat_id=admin_id))
        await bot.set_my_commands(GROUP_COMMANDS, scope=BotCommandScopeAllGroupChats())
        return True

    return bool(await optional("setting the command menus", every_menu))


async def set_role_commands(bot: Bot, telegram_id: int, role: str) -> None:
    """A person's private menu after /grant or /revoke; failures (they never wrote to the bot)
    don't matter: the menu is set again when the role changes next."""
    scope = BotCommandScopeChat(chat_id=telegram_id)
    with contextlib.suppress(*SOFT_FAILURES):
        if role == "learner":
            await bot.delete_my_commands(scope=scope)
        else:
            await bot.set_my_commands(ADMIN_COMMANDS if role == "admin" else TUTOR_COMMANDS,
                                      scope=scope)
