"""The dispatch shortcuts of `bot.app.feature_routers` (bot/filters.py) never change which
handler answers: a router's command gate lets through every message one of its `Command`
filters accepts, and no filter is left to run on a worker thread."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram.filters import Command
from aiogram.types import Message, User

from bot.app import feature_routers
from bot.filters import CommandGate


class FakeBot:
    id = 42

    async def me(self) -> User:
        return User(id=42, is_bot=True, first_name="bot", username="learn_bot")


def message(text: str | None = None, caption: str | None = None,
            chat_type: str = "private") -> Message:
    data: dict[str, Any] = {"message_id": 1, "date": 1767000000,
                            "chat": {"id": 7, "type": chat_type},
                            "from": {"id": 7, "is_bot": False, "first_name": "L"}}
    if text is not None:
        data["text"] = text
    if caption is not None:
        data["caption"] = caption
        data["photo"] = [{"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}]
    return Message.model_validate(data)


TEXTS = ["/help", " /help", "/help@learn_bot", "/help@other_bot", "/HELP", "/today now",
         "/start enroll_sql-basics", "/stats", "/stats sql", "/quota sql 3", "/cohorts",
         "/link", "/star", "/downvoted x", "/my_data", "/delete_me", "/unknown", "/", "",
         "hello", "help", "/help\nmore", "//help", "!help", "/persona", "/time 9"]


def samples() -> list[Message]:
    out = []
    for text in TEXTS:
        for chat in ("private", "group"):
            if text:
                out.append(message(text, chat_type=chat))
            out.append(message(caption=text or None, chat_type=chat))
    return out


def gate_of(router: Any) -> CommandGate | None:
    for flt in router.message._handler.filters or ():
        if isinstance(flt.callback, CommandGate):
            return flt.callback
    return None


async def test_gates_pass_every_message_a_command_filter_accepts() -> None:
    bot = FakeBot()
    gated = hits = 0
    for router in feature_routers():
        gate = gate_of(router)
        if gate is None:
            continue
        gated += 1
        for msg in samples():
            accepted = False
            for handler in router.message.handlers:
                for flt in handler.filters or ():
                    if isinstance(flt.callback, Command) and await flt.callback(msg, bot):
                        accepted = True
            assert not accepted or await gate(msg), (router.name, msg.text or msg.caption)
            hits += accepted
    assert gated >= 10  # the command-only routers (start, journeys, admin, ...) have one
    assert hits >= 20  # the samples do reach handlers


@pytest.mark.parametrize("router", feature_routers(), ids=lambda r: r.name)
def test_no_filter_runs_on_a_thread(router: Any) -> None:
    for observer in router.observers.values():
        for handler in (observer._handler, *observer.handlers):
            assert all(flt.awaitable for flt in handler.filters or ())
