"""/language: the learner picks the language of the bot's texts (and of course content that has
a version in it); the choice is stored in users.locale and wins over Telegram's language."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from bot.i18n import LANGUAGES, i18n, speakable
from bot.ui import keyboards, texts
from bot.ui.callbacks import LanguageCb
from bot.ui.menus import set_language_commands
from storage import users
from storage.uow import Transactor
from storage.users import User


async def language_cmd(message: Message, command: CommandObject, db: Transactor,
                       user: User, bot: Bot) -> None:
    wanted = (command.args or "").strip().lower()
    if wanted in LANGUAGES:  # `/language fil` works without the buttons too
        await message.answer(await _switch(db, user, wanted))
        await set_language_commands(bot, user.telegram_id, user.role, wanted)
        return
    await message.answer(texts.LANGUAGE_PICK.format(language=LANGUAGES[speakable(user.locale)]),
                         reply_markup=keyboards.languages(speakable(user.locale)))


async def language_cb(query: CallbackQuery, callback_data: LanguageCb, db: Transactor,
                      user: User, bot: Bot) -> None:
    if callback_data.lang not in LANGUAGES:  # not a button we made: forged or outdated
        await query.answer(texts.LANGUAGE_UNKNOWN, show_alert=True)
        return
    done = await _switch(db, user, callback_data.lang)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(done, reply_markup=None)
    await set_language_commands(bot, user.telegram_id, user.role, callback_data.lang)


async def _switch(db: Transactor, user: User, lang: str) -> str:
    async with db.tx() as conn:
        await users.set_locale(conn, user.id, lang)
    with i18n.use_locale(lang):  # the confirmation already speaks the new language
        return texts.LANGUAGE_SET.format(language=LANGUAGES[lang])


def build_router() -> Router:
    router = Router(name="language")
    router.message.filter(F.chat.type == "private")
    router.message.register(language_cmd, Command("language"))
    router.callback_query.register(language_cb, LanguageCb.filter())
    return router
