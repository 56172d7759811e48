"""Role filters. Checked server-side from the database role on every update."""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message

from bot import texts
from storage.users import User


class IsAdmin(Filter):
    """Passes for admins; everyone else is told no (and the handler never runs)."""

    async def __call__(self, event: Message | CallbackQuery, user: User | None = None) -> bool:
        if user is not None and user.is_admin:
            return True
        await event.answer(texts.NOT_ADMIN)
        return False
