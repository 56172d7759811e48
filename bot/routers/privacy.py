"""Privacy self-service: /my_data sends learners everything kept about them as a file;
/delete_me erases it after a confirmation, and the bot then forgets them."""

from __future__ import annotations

import json

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, Message

from bot.ui import keyboards, texts
from bot.ui.callbacks import DeleteMeCb
from storage import privacy
from storage.uow import Transactor
from storage.users import User


async def my_data(message: Message, db: Transactor, user: User) -> None:
    async with db.read() as conn:
        data = await privacy.export_user(conn, user.id)
    body = json.dumps(data, ensure_ascii=False, indent=2, default=str).encode()
    await message.answer_document(
        BufferedInputFile(body, filename="my-learnbot-data.json"), caption=texts.MY_DATA_CAPTION)


async def delete_me(message: Message, user: User) -> None:
    await message.answer(texts.DELETE_ME_CONFIRM, reply_markup=keyboards.delete_me_confirm(user.id))


async def delete_me_cb(query: CallbackQuery, callback_data: DeleteMeCb, db: Transactor,
                       user: User, state: FSMContext) -> None:
    if callback_data.user != user.id:
        await query.answer(texts.BUTTON_STALE, show_alert=True)
        return
    if callback_data.action == "no":
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.edit_text(texts.DELETE_KEPT)
        return
    async with db.tx() as conn:
        await privacy.delete_user(conn, user.id)
    await state.clear()
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(texts.DELETED)  # the last thing we ever say to them


def build_router() -> Router:
    router = Router(name="privacy")
    router.message.filter(F.chat.type == "private")
    router.message.register(my_data, Command("my_data"))
    router.message.register(delete_me, Command("delete_me"))
    router.callback_query.register(delete_me_cb, DeleteMeCb.filter())
    return router
