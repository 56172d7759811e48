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
from bot.i18n import gettext as _
from bot.i18n import i18n, speakable
from bot.transports.guard import SOFT_FAILURES, optional


def learner_commands() -> list[BotCommand]:
    return [
        BotCommand(command="today", description=_("Today's journey")),
        BotCommand(command="progress", description=_("Your progress")),
        BotCommand(command="courses", description=_("Browse and enroll")),
        BotCommand(command="quiz", description=_("Take your module quiz")),
        BotCommand(command="badges", description=_("Badges, XP and streak")),
        BotCommand(command="quota", description=_("Typed questions left")),
        BotCommand(command="new", description=_("Start a fresh conversation")),
        BotCommand(command="persona", description=_("Choose your learning style")),
        BotCommand(command="timezone", description=_("Set your time zone")),
        BotCommand(command="time", description=_("Choose your delivery hour")),
        BotCommand(command="pause", description=_("Pause daily journeys")),
        BotCommand(command="resume", description=_("Resume daily journeys")),
        BotCommand(command="leave", description=_("Leave a course (progress kept)")),
        BotCommand(command="course", description=_("Which course your questions are about")),
        BotCommand(command="my_data", description=_("Everything I keep about you")),
        BotCommand(command="delete_me", description=_("Erase your data")),
        BotCommand(command="language", description=_("Choose your language")),
        BotCommand(command="help", description=_("What I can do")),
    ]


def tutor_commands() -> list[BotCommand]:
    return [
        *learner_commands(),
        BotCommand(command="coldcall", description=_("Post a cold call: <cohort> <topic>")),
        BotCommand(command="top", description=_("Top answers: <cohort>")),
        BotCommand(command="cohorts", description=_("Your cohorts")),
        BotCommand(command="cohort_add", description=_("Add members: <cohort> <email>…")),
        BotCommand(command="project",
                   description=_("Batch project: <cohort> <batch> <title> <url>")),
        BotCommand(command="downvoted", description=_("Down-voted answers: <course>")),
    ]


def admin_commands() -> list[BotCommand]:
    return [
        *[c for c in tutor_commands() if c.command != "quota"],  # admins' /quota also sets it
        BotCommand(command="import", description=_("Import a course (.zip caption)")),
        BotCommand(command="stats", description=_("Analytics: [course]")),
        BotCommand(command="export", description=_("Learner progress CSV: <course>")),
        BotCommand(command="broadcast",
                   description=_("Message learners: <course|cohort> <text>")),
        BotCommand(command="cohort_new", description=_("New cohort: <course> <name>")),
        BotCommand(command="cohort_open", description=_("Reactivate a cohort")),
        BotCommand(command="cohort_close", description=_("Deactivate a cohort")),
        BotCommand(command="grant", description=_("admin|tutor @user [course]")),
        BotCommand(command="revoke", description=_("admin|tutor @user [course]")),
        BotCommand(command="page", description=_("Edit help/about/welcome: <slug> <text>")),
        BotCommand(command="quota", description=_("Questions left; set: <course> <n>")),
    ]


def group_commands() -> list[BotCommand]:
    """Group chats: English unless the cohort has a language (see README, Languages)."""
    return [
        BotCommand(command="top",
                   description=_("Most-starred answers to the current cold call")),
        BotCommand(command="star", description=_("Reply to an answer to star it")),
        BotCommand(command="coldcall", description=_("Tutors: post a cold call <topic>")),
        BotCommand(command="link", description=_("Admins: link this group to a cohort")),
    ]


# Each language's menus go to these Bot API language codes ("" is the default, which
# everyone without a menu of their own sees). Telegram reports Filipino users as "tl", which
# goes first: a server that refuses the three-letter "fil" then costs only that one.
MENU_LANGUAGES: dict[str, tuple[str, ...]] = {"en": ("",), "fil": ("tl", "fil")}


async def set_commands(bot: Bot, settings: Settings) -> bool:
    """Set every scope's menu in every language. Optional: a server that refuses or garbles any
    of it costs one warning and the bot runs with what was set so far (the default, English
    menus go first; only a 401 propagates). True when all were set."""

    async def every_menu() -> bool:
        for lang, codes in MENU_LANGUAGES.items():
            with i18n.use_locale(lang):
                private, admin, group = learner_commands(), admin_commands(), group_commands()
            for code in codes:
                language = code or None
                await bot.set_my_commands(private, scope=BotCommandScopeAllPrivateChats(),
                                          language_code=language)
                for admin_id in settings.admin_telegram_ids:
                    await bot.set_my_commands(admin, scope=BotCommandScopeChat(chat_id=admin_id),
                                              language_code=language)
                await bot.set_my_commands(group, scope=BotCommandScopeAllGroupChats(),
                                          language_code=language)
        return True

    return bool(await optional("setting the command menus", every_menu))


async def set_role_commands(bot: Bot, telegram_id: int, role: str,
                            locale: str | None = None) -> None:
    """A person's private menu after /grant or /revoke (a tutor's or admin's in their stored
    `locale` whatever their app's language, else in each language); failures (they never wrote
    to the bot) don't matter: the menu is set again when the role changes next."""
    scope = BotCommandScopeChat(chat_id=telegram_id)
    with contextlib.suppress(*SOFT_FAILURES):
        for lang, codes in MENU_LANGUAGES.items():
            with i18n.use_locale(speakable(locale) if locale else lang):
                menu = admin_commands() if role == "admin" else tutor_commands()
            for code in codes:
                if role == "learner":
                    await bot.delete_my_commands(scope=scope, language_code=code or None)
                else:
                    await bot.set_my_commands(menu, scope=scope, language_code=code or None)


async def set_language_commands(bot: Bot, telegram_id: int, role: str, locale: str) -> None:
    """After /language: the person's menu in the language they chose, even where their app
    reports another one (a chat's own menu wins over the per-language ones). Best effort."""
    if role != "learner":
        await set_role_commands(bot, telegram_id, role, locale)
        return
    with i18n.use_locale(locale):
        menu = learner_commands()
    with contextlib.suppress(*SOFT_FAILURES):
        await bot.set_my_commands(menu, scope=BotCommandScopeChat(chat_id=telegram_id))
