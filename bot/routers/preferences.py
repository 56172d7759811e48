"""/timezone, /time, /pause and /resume."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from bot.ui import keyboards, texts
from bot.ui.callbacks import TimeCb
from storage import users
from storage.uow import Transactor
from storage.users import User


def valid_zone(name: str) -> str | None:
    if not name or len(name) > 64 or ".." in name or name.startswith("/"):
        return None
    try:
        return str(ZoneInfo(name))
    except (ZoneInfoNotFoundError, ValueError):
        # Be forgiving about case: "europe/berlin" means Europe/Berlin.
        fixed = "/".join(p[:1].upper() + p[1:] for p in name.split("/"))
        if fixed != name:
            return valid_zone(fixed)
        return None


async def timezone(
    message: Message, command: CommandObject, db: Transactor, user: User,
    clock: Callable[[], datetime],
) -> None:
    arg = (command.args or "").strip()
    if not arg:
        await message.answer(texts.TIMEZONE_USAGE.format(tz=texts.esc(user.timezone)))
        return
    tz = valid_zone(arg)
    now = clock()
    async with db.tx() as conn:
        # PostgreSQL computes every local date, so its own list has the last word
        accepted = tz is not None and await users.set_timezone(conn, user.id, tz, now)
    if not accepted or tz is None:
        await message.answer(texts.TIMEZONE_BAD.format(value=texts.esc(arg[:64])))
        return
    local = now.astimezone(ZoneInfo(tz)).strftime("%H:%M")
    await message.answer(texts.TIMEZONE_SET.format(tz=tz, local=local))


async def time_cmd(
    message: Message, command: CommandObject, db: Transactor, user: User,
    clock: Callable[[], datetime],
) -> None:
    arg = (command.args or "").strip().removesuffix(":00")
    if not arg:
        await message.answer(
            texts.TIME_USAGE.format(hour=user.delivery_hour, tz=texts.esc(user.timezone)),
            reply_markup=keyboards.hours(),
        )
        return
    if not arg.isdigit() or not 0 <= int(arg) <= 23:
        await message.answer(texts.TIME_BAD)
        return
    async with db.tx() as conn:
        await users.set_delivery_hour(conn, user.id, int(arg), clock())
    await message.answer(texts.TIME_SET.format(hour=int(arg), tz=texts.esc(user.timezone)))


async def time_cb(
    query: CallbackQuery, callback_data: TimeCb, db: Transactor, user: User,
    clock: Callable[[], datetime],
) -> None:
    if not 0 <= callback_data.hour <= 23:  # our keyboard has no such button: forged
        await query.answer(texts.BUTTON_STALE, show_alert=True)
        return
    async with db.tx() as conn:
        await users.set_delivery_hour(conn, user.id, callback_data.hour, clock())
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(
            texts.TIME_SET.format(hour=callback_data.hour, tz=texts.esc(user.timezone))
        )


async def pause(message: Message, db: Transactor, user: User) -> None:
    async with db.tx() as conn:
        await users.pause(conn, user.id)
    await message.answer(texts.PAUSED)


async def resume(
    message: Message, db: Transactor, user: User, clock: Callable[[], datetime]
) -> None:
    async with db.tx() as conn:
        await users.resume(conn, user.id, clock())
    await message.answer(texts.RESUMED.format(hour=user.delivery_hour, tz=texts.esc(user.timezone)))


def build_router() -> Router:
    router = Router(name="preferences")
    router.message.filter(F.chat.type == "private")
    router.message.register(timezone, Command("timezone"))
    router.message.register(time_cmd, Command("time"))
    router.callback_query.register(time_cb, TimeCb.filter())
    router.message.register(pause, Command("pause"))
    router.message.register(resume, Command("resume"))
    return router
